"""The shared test case of keras_vae: `TestCase` and the shared checks.

`run_layer_test` puts one layer class through every check DESIGN.md asks of
a public layer (Convention 6): config round trip, Keras serialization,
build, eager and symbolic shapes, one XLA-compiled `fit` step inside a
functional model, and a `.keras` save/load round trip with identical outputs.
`run_model_test` does the same for keras_vae models and
`run_serialization_test` for any serializable object.
"""

import inspect
import json
import os
import shutil
import tempfile
import unittest
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

# --------------------------------------------------------------- structures


def _is_shape(value):
    """A shape is a tuple/list of ints and Nones (the empty tuple included)."""
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in value
    )


def _flatten_shapes(structure):
    """Flatten a nest of shapes (a shape, or tuples/lists/dicts of them)."""
    if _is_shape(structure):
        return [tuple(None if d is None else int(d) for d in structure)]
    if isinstance(structure, dict):
        return [s for key in sorted(structure) for s in _flatten_shapes(structure[key])]
    if isinstance(structure, (tuple, list)):
        return [s for item in structure for s in _flatten_shapes(item)]
    raise TypeError(f"Expected a shape or a nest of shapes. Received: {structure!r}")


def _as_tuple_of_inputs(value, is_leaf):
    """A single input as a 1-tuple; several (a tuple/list) as a tuple."""
    if is_leaf(value):
        return (value,)
    return tuple(value)


def _normalize_config(config, what):
    """JSON round trip of a config (tuples become lists); fails if not JSON."""
    try:
        return json.loads(json.dumps(config))
    except TypeError as error:
        raise AssertionError(
            f"Expected the {what} to be JSON-serializable. Received: {config!r} "
            f"({error})"
        ) from error


def _seed_state_pairs(model_a, model_b):
    """Pairs of seed-generator state variables of two same-architecture models."""
    a = [v for v in model_a.variables if "seed_generator_state" in v.path]
    b = [v for v in model_b.variables if "seed_generator_state" in v.path]
    if len(a) != len(b):
        raise AssertionError(
            "Expected the loaded model to own as many seed generators as the "
            f"saved one. Received: {len(a)} and {len(b)}"
        )
    return list(zip(a, b))


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


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


def _make_inputs(input_data, input_shape, seed):
    if (input_data is None) == (input_shape is None):
        raise ValueError(
            "Pass exactly one of `input_data` and `input_shape`. Received: "
            f"input_data is None={input_data is None}, input_shape={input_shape!r}"
        )
    if input_data is not None:
        if callable(input_data):
            input_data = input_data(np.random.RandomState(seed))
        arrays = _as_tuple_of_inputs(
            input_data, lambda v: hasattr(v, "shape") and hasattr(v, "dtype")
        )
        return tuple(_numpy(a) for a in arrays)
    rng = np.random.RandomState(seed)
    shapes = _as_tuple_of_inputs(input_shape, _is_shape)
    return tuple(rng.normal(size=tuple(s)).astype("float32") for s in shapes)


def _check_shapes(actual, expected, what):
    actual, expected = list(actual), list(expected)
    if len(actual) != len(expected):
        raise AssertionError(
            f"Expected {len(expected)} output(s) for {what}. "
            f"Received: {len(actual)} output(s) of shapes {actual}"
        )
    for i, (a, e) in enumerate(zip(actual, expected)):
        if tuple(a) != tuple(e):
            raise AssertionError(
                f"Output {i} of {what}: expected shape {tuple(e)}. "
                f"Received: {tuple(a)}"
            )


def _assert_close(actual, expected, what, rtol=1e-6, atol=1e-6):
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            _numpy(a), _numpy(e), rtol=rtol, atol=atol, err_msg=f"{what}, output {i}"
        )


def _init_argument_names(instance):
    """Named `__init__` arguments a config must hold (Convention 1)."""
    params = inspect.signature(type(instance).__init__).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in named and p.name != "self"]
    if isinstance(instance, keras.losses.Loss):
        # keras.losses.Loss.get_config itself leaves out `dtype`.
        names = [n for n in names if n != "dtype"]
    return names


def run_serialization_test(instance, custom_objects=None):
    """Check the config and Keras serialization round trips of an object.

    `get_config` must be JSON-serializable; `from_config(get_config())` and
    `deserialize_keras_object(serialize_keras_object(...))` (through JSON)
    must give an object of the same class whose config is unchanged. Layers
    must extend the base config (which holds `name`).

    Args:
        instance: A layer, loss, callback, model or other Keras object.
        custom_objects: Passed to `deserialize_keras_object`.

    Returns:
        The deserialized object.
    """
    cls = type(instance)
    config = instance.get_config()
    normalized = _normalize_config(config, f"config of {cls.__name__}")
    if isinstance(instance, keras.layers.Layer) and "name" not in config:
        raise AssertionError(
            f"Expected {cls.__name__}.get_config() to extend the base layer "
            f"config (with 'name'). Received: {config!r}"
        )
    missing = [n for n in _init_argument_names(instance) if n not in config]
    if missing:
        raise AssertionError(
            f"Expected {cls.__name__}.get_config() to hold every `__init__` "
            f"argument (Convention 1). Received: a config missing {missing}"
        )
    clones = {"from_config": cls.from_config(config)}
    serialized = _normalize_config(
        keras.saving.serialize_keras_object(instance), "serialized object"
    )
    clones["deserialize_keras_object"] = keras.saving.deserialize_keras_object(
        serialized, custom_objects=custom_objects
    )
    for how, clone in clones.items():
        if type(clone) is not cls:
            raise AssertionError(
                f"Expected {how} to return a {cls.__name__}. "
                f"Received: {type(clone).__name__}"
            )
        again = _normalize_config(clone.get_config(), f"config after {how}")
        if again != normalized:
            raise AssertionError(
                f"The {how} round trip changed the config of {cls.__name__}."
                f"\nBefore: {normalized}\nAfter:  {again}"
            )
    return clones["deserialize_keras_object"]


def _run_eager_checks(layer_cls, init_kwargs, inputs, call_kwargs, expected):
    layer = layer_cls(**init_kwargs)
    shapes = [tuple(x.shape) for x in inputs]
    if len(inputs) == 1:
        # Explicit build: creates every weight before the first call.
        layer.build(shapes[0])
        if not layer.built:
            raise AssertionError(f"{layer_cls.__name__}.build did not set `built`.")
    outputs = layer(*inputs, **call_kwargs)
    flat = list(keras.tree.flatten(outputs))
    num_weights = len(layer.weights)
    eager_shapes = [tuple(o.shape) for o in flat]
    if expected is not None:
        _check_shapes(eager_shapes, _flatten_shapes(expected), "the eager call")
    computed = _flatten_shapes(layer.compute_output_shape(*shapes))
    _check_shapes(eager_shapes, computed, "the eager call vs compute_output_shape")
    for i, o in enumerate(flat):
        if not np.all(np.isfinite(_numpy(o))):
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
    symbolic_inputs = [
        keras.Input(shape=x.shape[1:], dtype=str(x.dtype), name=f"input_{i}")
        for i, x in enumerate(inputs)
    ]
    outputs = layer(*symbolic_inputs, **call_kwargs)
    flat = list(keras.tree.flatten(outputs))
    symbolic_shapes = [tuple(o.shape) for o in flat]
    computed = _flatten_shapes(
        layer.compute_output_shape(*[tuple(t.shape) for t in symbolic_inputs])
    )
    _check_shapes(
        symbolic_shapes, computed, "the symbolic call vs compute_output_shape"
    )
    for i, (sym, eager) in enumerate(zip(symbolic_shapes, eager_shapes)):
        compatible = len(sym) == len(eager) and all(
            s is None or s == e for s, e in zip(sym, eager)
        )
        if not compatible:
            raise AssertionError(
                f"Output {i}: symbolic shape {sym} is incompatible with the "
                f"eager shape {eager}."
            )
    batch_axes = [s.index(None) if None in s else None for s in symbolic_shapes]
    model_inputs = _model_inputs(symbolic_inputs)
    model = keras.Model(model_inputs, flat, name="layer_test_model")
    head = PerExampleSum(batch_axes, name="per_example_sum")
    train_model = keras.Model(
        model_inputs, head(flat, symbolic_inputs[0]), name="layer_test_train"
    )
    return layer, model, train_model


def _model_inputs(inputs):
    return inputs[0] if len(inputs) == 1 else list(inputs)


def _run_training_check(layer_cls, layer, train_model, inputs, train_all_weights):
    x = _model_inputs(inputs)
    batch = inputs[0].shape[0]
    trainable = list(layer.trainable_weights)
    with tf.GradientTape() as tape:
        prediction = train_model(x, training=True)
        loss = ops.mean(ops.square(prediction))
        if train_model.losses:
            loss = loss + ops.sum(train_model.losses)
    grads = tape.gradient(loss, trainable) if trainable else []
    has_grad = [
        g is not None and bool(np.any(_numpy(g) != 0)) for g in grads
    ]
    if train_all_weights:
        missing = [w.path for w, ok in zip(trainable, has_grad) if not ok]
        if missing:
            raise AssertionError(
                f"Expected every trainable weight of {layer_cls.__name__} to get "
                f"a non-zero gradient. Received none for: {missing}"
            )
    before = [_numpy(w).copy() for w in trainable]
    train_model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse", jit_compile=True
    )
    with warnings.catch_warnings():
        # Keras warns when there is nothing to train (e.g. GaussianSample);
        # the step still has to compile with XLA and run.
        warnings.filterwarnings("ignore", message=".*any trainable weights.*")
        history = train_model.fit(
            x, np.zeros((batch, 1), "float32"), batch_size=batch, epochs=1,
            shuffle=False, verbose=0,
        )
    if not np.isfinite(history.history["loss"][0]):
        raise AssertionError(
            f"The fit step of {layer_cls.__name__} gave a non-finite loss: "
            f"{history.history['loss'][0]}"
        )
    for w, old, ok in zip(trainable, before, has_grad):
        new = _numpy(w)
        if not np.all(np.isfinite(new)):
            raise AssertionError(f"Weight {w.path} is not finite after fit.")
        if ok and np.array_equal(new, old):
            raise AssertionError(
                f"Weight {w.path} has a gradient but did not change in fit."
            )


def _check_keras_file_round_trip(model, x, custom_objects, deterministic):
    """Save `model` to `.keras`, load it, compare weights and outputs."""
    tmp = tempfile.mkdtemp(prefix="keras_vae_test_")
    try:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, custom_objects=custom_objects)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(loaded.weights) != len(model.weights):
        raise AssertionError(
            f"The loaded model has {len(loaded.weights)} weights; the saved one "
            f"has {len(model.weights)}."
        )
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(
            _numpy(a), _numpy(b), err_msg=f"weight {a.path} after .keras round trip"
        )
    # Seed-generator states are not saved in .keras files: align them so a
    # seeded random layer or model must reproduce the saved outputs exactly.
    for a, b in _seed_state_pairs(model, loaded):
        b.assign(a)
    expected, actual = keras.tree.flatten(model(x)), keras.tree.flatten(loaded(x))
    _check_shapes(
        [tuple(a.shape) for a in actual],
        [tuple(e.shape) for e in expected],
        "the loaded model",
    )
    if deterministic:
        _assert_close(actual, expected, ".keras save/load round trip")
    return loaded


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
            argument) or a callable `rng -> data`.
        input_shape: Instead of `input_data`: a shape, or a tuple of shapes,
            of standard normal inputs (first axis = batch).
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
    inputs = _make_inputs(input_data, input_shape, seed)

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
        loaded = _check_keras_file_round_trip(
            model, _model_inputs(inputs), custom_objects, deterministic
        )
        loaded_layer = loaded.layers[-1]
        if type(loaded_layer) is not layer_cls:
            raise AssertionError(
                f"Expected the loaded model to hold a {layer_cls.__name__}. "
                f"Received: {type(loaded_layer).__name__}"
            )


# --------------------------------------------------------- run_model_test


def run_model_test(
    model_cls,
    init_kwargs,
    input_data,
    custom_objects=None,
    deterministic=True,
    epochs=1,
    seed=0,
):
    """Check a keras_vae model class: serialization, XLA `fit`, `.keras` I/O.

    The model is built by a call on `input_data`, trained for `epochs` with
    `compile(optimizer="adam", jit_compile=True)` (the model computes its own
    objective), must report finite losses and change its trainable weights,
    and must round-trip its config and a `.keras` file: same weights and,
    with `deterministic=True`, the same call outputs once the seed-generator
    states (not stored in `.keras` files) are aligned.

    Args:
        model_cls: The model class.
        init_kwargs: Dict of constructor arguments.
        input_data: An array (or callable `rng -> array`) of one batch.
        custom_objects: Passed to deserialization and loading.
        deterministic: Compare call outputs after save/load.
        epochs: Epochs of the `fit` check.
        seed: Seed of a callable `input_data`.
    """
    x = _make_inputs(input_data, None, seed)
    if len(x) != 1:
        raise ValueError(
            f"Expected one input array for a model. Received: {len(x)} arrays"
        )
    x = x[0]
    model = model_cls(**dict(init_kwargs or {}))
    model(x)
    trainable = list(model.trainable_weights)
    if not trainable:
        raise AssertionError(f"{model_cls.__name__} has no trainable weights.")
    before = [_numpy(w).copy() for w in trainable]
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(x, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0)
    for name, values in history.history.items():
        if not np.all(np.isfinite(values)):
            raise AssertionError(f"fit reported a non-finite {name}: {values}")
    changed = [not np.array_equal(_numpy(w), b) for w, b in zip(trainable, before)]
    if not any(changed):
        raise AssertionError(f"fit did not change any weight of {model_cls.__name__}.")
    run_serialization_test(model, custom_objects)

    loaded = _check_keras_file_round_trip(model, x, custom_objects, deterministic)
    if type(loaded) is not model_cls:
        raise AssertionError(
            f"Expected load_model to return a {model_cls.__name__}. "
            f"Received: {type(loaded).__name__}"
        )
    return loaded


# -------------------------------------------------------------- TestCase


class TestCase(unittest.TestCase):
    """`unittest.TestCase` with keras_vae's helpers; runs under pytest too.

    Each test starts from a cleared Keras session and fixed global seeds
    (`keras.utils.set_random_seed(1337)`), so results do not depend on the
    test order.
    """

    def setUp(self):
        super().setUp()
        keras.backend.clear_session()
        keras.utils.set_random_seed(1337)

    def get_temp_dir(self):
        """A fresh temporary directory removed after the test."""
        path = tempfile.mkdtemp(prefix="keras_vae_test_")
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path

    def assertAllClose(self, actual, expected, rtol=1e-6, atol=1e-6, msg=None):
        np.testing.assert_allclose(
            _numpy(actual), _numpy(expected), rtol=rtol, atol=atol,
            err_msg=msg or "",
        )

    def assertNotAllClose(self, actual, expected, rtol=1e-6, atol=1e-6, msg=None):
        if np.allclose(_numpy(actual), _numpy(expected), rtol=rtol, atol=atol):
            self.fail(msg or "Expected the arrays to differ, but they are close.")

    def run_layer_test(self, layer_cls, init_kwargs, **kwargs):
        """`keras_vae.testing.run_layer_test` as a method."""
        run_layer_test(layer_cls, init_kwargs, **kwargs)

    def run_model_test(self, model_cls, init_kwargs, input_data, **kwargs):
        """`keras_vae.testing.run_model_test` as a method."""
        return run_model_test(model_cls, init_kwargs, input_data, **kwargs)

    def run_serialization_test(self, instance, custom_objects=None):
        """`keras_vae.testing.run_serialization_test` as a method."""
        return run_serialization_test(instance, custom_objects)
