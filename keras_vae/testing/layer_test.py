"""`run_layer_test`: every check DESIGN.md asks of a public layer.

Config round trip, Keras serialization, build, eager and symbolic shapes, one
XLA-compiled `fit` step inside a functional model, and a `.keras` save/load
round trip with identical outputs.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_vae.testing.backend import value_and_grad
from keras_vae.testing.checks import check_keras_file_round_trip
from keras_vae.testing.checks import check_shapes
from keras_vae.testing.checks import first_leaf
from keras_vae.testing.checks import flatten_shapes
from keras_vae.testing.checks import is_shape
from keras_vae.testing.checks import make_inputs
from keras_vae.testing.checks import run_serialization_test
from keras_vae.testing.checks import shapes_of
from keras_vae.testing.checks import to_numpy

# -------------------------------------------------------- training head


@keras.saving.register_keras_serializable(package="keras_vae.testing")
class PerExampleSum(keras.layers.Layer):
    """Reduces a layer's outputs to one float per example, shape `(batch, 1)`.

    Output `i` is averaged over all its axes but `batch_axes[i]` (the axis
    that is `None` in its symbolic shape); outputs without a batch axis are
    averaged to a scalar and broadcast over the batch of `reference`. The
    per-output values are summed. Used by `run_layer_test` to train any layer
    with a plain `"mse"` loss against zeros.
    """

    def __init__(self, batch_axes, **kwargs):
        super().__init__(**kwargs)
        self.batch_axes = [None if a is None else int(a) for a in batch_axes]

    def call(self, outputs, reference):
        batch = ops.shape(reference)[0]
        total = ops.zeros((batch,), "float32")
        for output, axis in zip(outputs, self.batch_axes):
            output = ops.cast(output, "float32")
            if axis is None:
                total = total + ops.mean(output)
                continue
            output = ops.moveaxis(output, axis, 0)
            if len(output.shape) > 1:
                output = ops.mean(output, axis=tuple(range(1, len(output.shape))))
            total = total + output
        return ops.expand_dims(total, -1)

    def compute_output_shape(self, outputs_shape, reference_shape):
        return (reference_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "batch_axes": self.batch_axes}


# --------------------------------------------------------- run_layer_test
def _run_eager_checks(layer_cls, init_kwargs, inputs, call_kwargs, expected):
    layer = layer_cls(**init_kwargs)
    shapes = [shapes_of(x) for x in inputs]
    if len(inputs) == 1 and is_shape(shapes[0]):
        # Explicit build: creates every weight before the first call.
        layer.build(shapes[0])
        if not layer.built:
            raise AssertionError(f"{layer_cls.__name__}.build did not set `built`.")
    outputs = layer(*inputs, **call_kwargs)
    flat = list(keras.tree.flatten(outputs))
    num_weights = len(layer.weights)
    eager_shapes = [tuple(o.shape) for o in flat]
    if expected is not None:
        check_shapes(eager_shapes, flatten_shapes(expected), "the eager call")
    computed = flatten_shapes(layer.compute_output_shape(*shapes))
    check_shapes(eager_shapes, computed, "the eager call vs compute_output_shape")
    for i, o in enumerate(flat):
        if not np.all(np.isfinite(to_numpy(o))):
            raise AssertionError(f"Output {i} of the eager call is not finite.")
    layer(*inputs, **call_kwargs)
    if len(layer.weights) != num_weights:
        raise AssertionError(
            f"{layer_cls.__name__} created weights in a second call "
            f"({num_weights} -> {len(layer.weights)}): create them in build()."
        )
    return eager_shapes


def _build_functional(layer_cls, init_kwargs, inputs, call_kwargs, eager_shapes):
    layer = layer_cls(**init_kwargs)
    names = iter(range(len(keras.tree.flatten(inputs))))
    symbolic_inputs = [
        keras.tree.map_structure(
            lambda x: keras.Input(
                shape=x.shape[1:], dtype=str(x.dtype), name=f"input_{next(names)}"
            ),
            arg,
        )
        for arg in inputs
    ]
    outputs = layer(*symbolic_inputs, **call_kwargs)
    flat = list(keras.tree.flatten(outputs))
    symbolic_shapes = [tuple(o.shape) for o in flat]
    computed = flatten_shapes(layer.compute_output_shape(*[shapes_of(t) for t in symbolic_inputs]))
    check_shapes(symbolic_shapes, computed, "the symbolic call vs compute_output_shape")
    for i, (sym, eager) in enumerate(zip(symbolic_shapes, eager_shapes)):
        compatible = len(sym) == len(eager) and all(s is None or s == e for s, e in zip(sym, eager))
        if not compatible:
            raise AssertionError(
                f"Output {i}: symbolic shape {sym} is incompatible with the eager shape {eager}."
            )
    batch_axes = [s.index(None) if None in s else None for s in symbolic_shapes]
    model_inputs = _model_inputs(symbolic_inputs)
    model = keras.Model(model_inputs, flat, name="layer_test_model")
    head = PerExampleSum(batch_axes, name="per_example_sum")
    train_model = keras.Model(
        model_inputs, head(flat, first_leaf(symbolic_inputs)), name="layer_test_train"
    )
    return layer, model, train_model


def _model_inputs(inputs):
    return inputs[0] if len(inputs) == 1 else list(inputs)


def _run_training_check(layer_cls, layer, train_model, inputs, train_all_weights):
    x = _model_inputs(inputs)
    batch = first_leaf(inputs).shape[0]
    trainable = list(layer.trainable_weights)

    def training_loss():
        prediction = train_model(x, training=True)
        loss = ops.mean(ops.square(prediction))
        if train_model.losses:
            loss = loss + ops.sum(train_model.losses)
        return loss

    _, grads = value_and_grad(training_loss, variables=trainable)
    has_grad = [g is not None and bool(np.any(to_numpy(g) != 0)) for g in grads]
    if train_all_weights:
        missing = [w.path for w, ok in zip(trainable, has_grad) if not ok]
        if missing:
            raise AssertionError(
                f"Expected every trainable weight of {layer_cls.__name__} to get "
                f"a non-zero gradient. Received none for: {missing}"
            )
    before = [to_numpy(w).copy() for w in trainable]
    train_model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse", jit_compile=True
    )
    with warnings.catch_warnings():
        # Keras warns when there is nothing to train (e.g. GaussianSample);
        # the step still has to compile with XLA and run.
        warnings.filterwarnings("ignore", message=".*any trainable weights.*")
        history = train_model.fit(
            x,
            np.zeros((batch, 1), "float32"),
            batch_size=batch,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
    if not np.isfinite(history.history["loss"][0]):
        raise AssertionError(
            f"The fit step of {layer_cls.__name__} gave a non-finite loss: "
            f"{history.history['loss'][0]}"
        )
    for w, old, ok in zip(trainable, before, has_grad):
        new = to_numpy(w)
        if not np.all(np.isfinite(new)):
            raise AssertionError(f"Weight {w.path} is not finite after fit.")
        if ok and np.array_equal(new, old):
            raise AssertionError(f"Weight {w.path} has a gradient but did not change in fit.")


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data=None,
    input_shape=None,
    call_kwargs=None,
    expected_output_shape=None,
    run_training_check=True,
    run_serialization_check=True,
    custom_objects=None,
    deterministic=True,
    train_all_weights=True,
    seed=0,
):
    """Check a layer class against keras_vae's layer contract.

    Checks, in order:

    1. (`run_serialization_check`) `get_config` -> `from_config` gives the
       same (JSON-normalized) config, and so does a
       `keras.saving.serialize_keras_object` / `deserialize_keras_object`
       round trip through JSON.
    2. Build (single input) and an eager call: output shapes equal
       `expected_output_shape` (if given) and `compute_output_shape`; outputs
       are finite; a second call creates no weights.
    3. A call on `keras.Input`s: output shapes equal `compute_output_shape`
       of the symbolic shapes and agree with the eager shapes.
    4. (`run_training_check`) One `fit` step, `jit_compile=True`, of a
       functional model reducing the outputs to one value per example
       (`PerExampleSum`) with an `"mse"` loss to zeros: every trainable
       weight with a non-zero gradient changes (and, with
       `train_all_weights`, every trainable weight has one).
    5. (`run_serialization_check`) `.keras` save/load of the functional
       model: same weights and, with `deterministic=True`, the same outputs.
       Seed-generator states, which `.keras` files do not store, are copied
       first, so a seeded random layer must match exactly; pass
       `deterministic=False` for randomness that no layer seed controls.

    Args:
        layer_cls: The layer class.
        init_kwargs: Dict of constructor arguments.
        input_data: An array, a tuple of arrays (one per positional call
            argument) or a callable `rng -> data`. A positional argument may
            itself be a tuple of arrays, such as a `(loc, scale)` pair.
        input_shape: Instead of `input_data`: a shape, or a tuple of shapes,
            of standard normal inputs (first axis = batch); as with
            `input_data`, an argument may be a tuple of shapes.
        call_kwargs: Dict of keyword arguments of the call.
        expected_output_shape: A shape or a nest of shapes (tuple outputs).
        run_training_check: Run check 4.
        run_serialization_check: Run checks 1 and 5.
        custom_objects: Passed to deserialization and loading.
        deterministic: Compare outputs exactly after save/load.
        train_all_weights: Require a gradient for every trainable weight.
        seed: Seed of the generated inputs.

    Raises:
        AssertionError: naming the failed check.
    """
    init_kwargs = dict(init_kwargs or {})
    call_kwargs = dict(call_kwargs or {})
    inputs = make_inputs(input_data, input_shape, seed)

    if run_serialization_check:
        run_serialization_test(layer_cls(**init_kwargs), custom_objects)

    eager_shapes = _run_eager_checks(
        layer_cls, init_kwargs, inputs, call_kwargs, expected_output_shape
    )
    layer, model, train_model = _build_functional(
        layer_cls, init_kwargs, inputs, call_kwargs, eager_shapes
    )
    if run_training_check:
        _run_training_check(layer_cls, layer, train_model, inputs, train_all_weights)
    if run_serialization_check:
        loaded = check_keras_file_round_trip(
            model, _model_inputs(inputs), custom_objects, deterministic
        )
        loaded_layer = loaded.layers[-1]
        if type(loaded_layer) is not layer_cls:
            raise AssertionError(
                f"Expected the loaded model to hold a {layer_cls.__name__}. "
                f"Received: {type(loaded_layer).__name__}"
            )
