"""Conformance: every public symbol is registered and passes its shared checks."""

import inspect

import keras
import numpy as np
import pytest

from keras_vae.testing import conformance
from keras_vae.testing import run_layer_test
from keras_vae.testing import run_model_test
from keras_vae.testing import run_serialization_test

# Known library bugs, reported to the lead. The marks are strict: once the
# bug is fixed the test passes, the xfail fails, and the entry must go.
KNOWN_BUGS = {}

# Classes whose instances Keras serializes (config + registered name).
SERIALIZABLE_BASES = (
    keras.layers.Layer,
    keras.losses.Loss,
    keras.metrics.Metric,
    keras.callbacks.Callback,
    keras.optimizers.Optimizer,
    keras.optimizers.schedules.LearningRateSchedule,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
)


def _cases(kind):
    # The model checks run on the public models and on `USER_MODELS`.
    names = conformance.model_names() if kind == "model" else conformance.names_of_kind(kind)
    cases = []
    for name in names:
        for i, spec in enumerate(conformance.specs(name)):
            marks = ()
            if name in KNOWN_BUGS:
                marks = pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=True)
            cases.append(pytest.param(name, spec, id=f"{name}[{i}]", marks=marks))
    return cases


def _clear():
    keras.backend.clear_session()
    keras.utils.set_random_seed(1337)


# ------------------------------------------------------------- the registry


def test_every_public_symbol_is_registered():
    missing = sorted(set(conformance.public_symbols()) - set(conformance.CONFORMANCE))
    assert not missing, (
        "Public symbols missing from keras_vae.testing.conformance.CONFORMANCE "
        f"(add a Spec for each): {missing}"
    )


def test_no_stale_registry_entries():
    stale = sorted(set(conformance.CONFORMANCE) - set(conformance.public_symbols()))
    assert not stale, f"CONFORMANCE entries that are not public symbols: {stale}"


def test_public_symbols_walks_every_subpackage_all():
    names = conformance.public_symbols()
    assert names == sorted(set(names)), "duplicate or unsorted public names"
    for sub in conformance.existing_subpackages():
        module = conformance.resolve(f"keras_vae.{sub}")
        for attr in module.__all__:
            assert f"keras_vae.{sub}.{attr}" in names
            assert hasattr(module, attr), f"keras_vae.{sub}.__all__ lists {attr!r}"
    # The subpackages of DESIGN.md that exist today are all walked.
    assert {"layers", "priors", "likelihoods", "losses", "models", "callbacks"} <= set(
        conformance.existing_subpackages()
    )


@pytest.mark.parametrize("name", sorted(conformance.CONFORMANCE))
def test_spec_kind_matches_object(name):
    obj = conformance.resolve(name)
    kind = conformance.kind_of(name)
    assert conformance.matches_kind(obj, kind), (
        f"{name} is registered as kind {kind!r} but is {obj!r}"
    )
    if kind != "constant":
        assert inspect.getdoc(obj), f"{name} has no docstring (Convention 3)"


def test_spec_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Expected `kind` to be one of"):
        conformance.Spec("widget")


# ------------------------------------------------------------ registration


@pytest.mark.parametrize("name", sorted(conformance.CONFORMANCE))
def test_serializable_classes_are_registered(name):
    obj = conformance.resolve(name)
    if not (isinstance(obj, type) and issubclass(obj, SERIALIZABLE_BASES)):
        pytest.skip(f"{name} is not a serializable Keras class")
    if conformance.kind_of(name) == "base_class":
        pytest.skip(f"{name} is an abstract base class")
    registered = f"keras_vae>{obj.__name__}"
    assert keras.saving.get_registered_name(obj) == registered, (
        f"{name} is not registered with "
        '@keras.saving.register_keras_serializable(package="keras_vae")'
    )
    assert keras.saving.get_registered_object(registered) is obj


# ------------------------------------------------------------ shared checks


@pytest.mark.parametrize("name, spec", _cases("layer"))
def test_layer_conformance(name, spec):
    _clear()
    if (
        keras.backend.backend() == "jax"
        and name.endswith(".VectorQuantizer")
        and spec.init_kwargs.get("kmeans_init")
    ):
        # The k-means initialization assigns the codebook in the first
        # training call; JAX differentiates the value the function read,
        # which the assignment replaced, TensorFlow's tape the variable.
        # The model test (VQVAE, `kmeans_init=True`) trains it on JAX.
        pytest.skip("the gradient of a weight assigned in the same call differs on JAX")
    run_layer_test(conformance.resolve(name), **spec.layer_test_kwargs())


@pytest.mark.parametrize("name, spec", _cases("model"))
def test_model_conformance(name, spec):
    _clear()
    run_model_test(
        conformance.resolve(name),
        spec.init_kwargs,
        spec.input_data,
        deterministic=spec.deterministic,
        untrained_weights=spec.untrained_weights,
        condition=conformance.model_data(spec)[1],
    )


@pytest.mark.parametrize("name", conformance.names_of_kind("model_component"))
def test_model_components_are_used_by_a_model_spec(name):
    registered = f"keras_vae>{name.rpartition('.')[2]}"
    users = [
        model
        for model in conformance.names_of_kind("model")
        for spec in conformance.specs(model)
        if registered in repr(spec.init_kwargs)
    ]
    assert users, f"No model spec uses {name}; add one so the model checks cover it."


@pytest.mark.parametrize("name, spec", _cases("loss"))
def test_loss_conformance(name, spec):
    loss = conformance.resolve(name)(**spec.init_kwargs)
    run_serialization_test(loss)
    y_pred = conformance.random_inputs(spec.input_shape)
    value = keras.ops.convert_to_numpy(loss(np.zeros_like(y_pred), y_pred))
    assert value.shape == () and np.isfinite(value)


@pytest.mark.parametrize("name, spec", _cases("callback"))
def test_callback_conformance(name, spec):
    run_serialization_test(conformance.resolve(name)(**spec.init_kwargs))


# ------------------------------------------- the shared checks can fail


@keras.saving.register_keras_serializable(package="keras_vae_tests")
class _ForgetsConfig(keras.layers.Layer):
    """Drops `units` from its config."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, x):
        return x[..., : self.units]

    def get_config(self):
        config = super().get_config()
        config.pop("units", None)
        return config

    def compute_output_shape(self, shape):
        return tuple(shape[:-1]) + (self.units,)


@keras.saving.register_keras_serializable(package="keras_vae_tests")
class _WrongShape(keras.layers.Layer):
    """Reports an output shape it does not produce."""

    def call(self, x):
        return x * 2.0

    def compute_output_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] + 1,)


@keras.saving.register_keras_serializable(package="keras_vae_tests")
class _UnusedWeight(keras.layers.Layer):
    """Owns a trainable weight that its output does not depend on."""

    def build(self, shape):
        self.used = self.add_weight(shape=(shape[-1],), initializer="ones")
        self.unused = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.used

    def compute_output_shape(self, shape):
        return tuple(shape)


@keras.saving.register_keras_serializable(package="keras_vae_tests")
class _UnsavedState(keras.layers.Layer):
    """Output depends on a random attribute that is neither config nor weight."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.offset = float(np.random.uniform(1.0, 2.0))

    def call(self, x):
        return x + self.offset

    def compute_output_shape(self, shape):
        return tuple(shape)


@pytest.mark.parametrize(
    "layer_cls, kwargs, message",
    [
        (_ForgetsConfig, {"init_kwargs": {"units": 3}}, "missing \\['units'\\]"),
        (_WrongShape, {"init_kwargs": {}}, "compute_output_shape"),
        (_UnusedWeight, {"init_kwargs": {}}, "non-zero gradient"),
        (_UnsavedState, {"init_kwargs": {}}, "save/load"),
    ],
)
def test_run_layer_test_catches_broken_layers(layer_cls, kwargs, message):
    _clear()
    with pytest.raises(AssertionError, match=message):
        run_layer_test(layer_cls, input_shape=(4, 5), **kwargs)


def test_run_model_test_requires_every_trainable_weight_to_move():
    # A VAE whose encoder owns a weight its output ignores: one XLA fit step
    # moves every other weight, so "some weight moved" would accept it.
    _clear()
    from keras_vae.models import VAE

    images = (np.random.RandomState(0).uniform(size=(8, 4, 4, 1)) < 0.5).astype("float32")
    encoder = keras.Sequential([keras.layers.Flatten(), _UnusedWeight(name="unused_weight")])
    kwargs = {"latent_dim": 2, "hidden_units": (8,), "seed": 1}
    with pytest.raises(AssertionError, match=r"Unchanged: \[.*unused_weight"):
        run_model_test(VAE, {**kwargs, "encoder": encoder}, images)
    with pytest.raises(AssertionError, match="no weight path contains"):
        run_model_test(VAE, kwargs, images, untrained_weights=("no_such_weight",))


def test_run_layer_test_needs_exactly_one_input_source():
    with pytest.raises(ValueError, match="exactly one"):
        run_layer_test(keras.layers.Dense, {"units": 2})
