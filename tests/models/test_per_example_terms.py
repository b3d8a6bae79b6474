"""The forward pass returns per-example terms; `compute_loss` reduces and weights them.

1. For every registered model spec, each entry of `compute_terms(x)` is
   `(batch,)` or a scalar (a statistic of the whole batch), and `"loss"` is
   `(batch,)` (of a conditional spec, `compute_terms((x, c))`).
2. A user subclass of `VAE` that weights the examples in `compute_loss`
   (from the batch `y_pred` already holds, no second encoder pass) trains
   with `fit`, and its reported loss is the weighted mean, computed in
   NumPy, of the per-example losses of a twin model with the same seed state.
3. A GECO model's loss is the Lagrangian beta mean(kl) + lambda (C - kappa^2),
   C = -mean(reconstruction), computed in NumPy from the per-example terms.
4. The IWAE of `examples/custom_model` follows the contract, and its call is
   deterministic like the library's models.
"""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import keras_vae
from keras_vae.models import Autoencoder
from keras_vae.testing import conformance
from keras_vae.testing.backend import compiled


def _autoencoder_specs():
    # PixelCNN is a plain Keras model: its `y_pred` is the logits and its own
    # `compute_loss` reduces them; it has no `compute_terms`.
    return [
        pytest.param(name, spec, id=f"{name.rsplit('.', 1)[1]}[{i}]")
        for name in conformance.names_of_kind("model")
        if issubclass(conformance.resolve(name), Autoencoder)
        for i, spec in enumerate(conformance.specs(name))
    ]


@pytest.mark.parametrize("name, spec", _autoencoder_specs())
@pytest.mark.parametrize("training", [False, True])
def test_terms_are_per_example_or_batch_statistics(name, spec, training):
    x, c = conformance.model_data(spec)
    model = conformance.resolve(name)(**spec.init_kwargs)
    model.build(x.shape)
    inputs = ops.convert_to_tensor(x)
    if c is not None:
        # A conditional model's terms are of the pair (x, c), c as the
        # float32 vectors the train step passes.
        inputs = (inputs, model.condition_tensor(c))
    terms = model.compute_terms(inputs, training=training)
    batch = len(x)
    shapes = {key: tuple(value.shape) for key, value in terms.items()}
    assert shapes["loss"] == (batch,), shapes
    wrong = {key: s for key, s in shapes.items() if s not in ((batch,), ())}
    assert not wrong, f"terms neither (batch,) nor scalar: {wrong}"
    # Every metric of the model but those `compute_metrics` adds is a term.
    added = {"loss", "beta", "lambda", "constraint", "constraint_average"}
    assert set(model.metrics_names) - added <= set(terms), (model.metrics_names, shapes)


def _ink(x):
    """1 + the number of ones of each example: weights from the batch itself."""
    x = ops.cast(x, "float32")
    return 1.0 + ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


class InkWeightedVAE(keras_vae.models.VAE):
    """Weights each example's negative ELBO by `_ink` of the example."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        w = _ink(x)
        return ops.sum(w * y_pred["loss"]) / ops.sum(w)


def _binary(n, dim=12, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, dim)) < 0.4).astype("float32")


def _twins(make, jit_compile):
    """Two models built alike from the same seed: one trains, the other is
    the oracle's source of per-example terms with the same seed state."""
    model, twin = make(), make()
    model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=jit_compile)
    twin.build((None, 12))
    model.build((None, 12))
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    return model, twin


def _numpy_terms(model, x, training, jit_compile):
    """`compute_terms` as NumPy, compiled like the step (XLA draws other
    random numbers than TensorFlow's kernels from the same seed)."""

    def terms(x):
        return model.compute_terms(x, training=training)

    fn = compiled(terms, state=[model]) if jit_compile else terms
    return {key: np.asarray(v, "float64") for key, v in fn(ops.convert_to_tensor(x)).items()}


@pytest.mark.parametrize("jit_compile", [True, False])
def test_compute_loss_override_weights_examples_without_a_second_pass(jit_compile):
    x = _binary(16)
    w = 1.0 + x.sum(axis=-1, dtype="float64")
    model, twin = _twins(
        lambda: InkWeightedVAE(latent_dim=2, hidden_units=(8,), seed=0), jit_compile
    )

    # evaluate: the test step's loss is the override's weighted mean.
    result = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    terms = _numpy_terms(twin, x, False, jit_compile)
    weighted = np.sum(w * terms["loss"]) / np.sum(w)
    assert not np.isclose(weighted, np.mean(terms["loss"]), rtol=1e-3)  # weights matter
    np.testing.assert_allclose(result["loss"], weighted, rtol=1e-5)
    # The other metrics are the batch means of the terms, as before.
    for key in ("elbo", "reconstruction", "kl"):
        np.testing.assert_allclose(result[key], np.mean(terms[key]), rtol=1e-5)

    # fit: one step on one batch, reported before the update.
    before = [v.copy() for v in model.get_weights()]
    history = model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    terms = _numpy_terms(twin, x, True, jit_compile)
    np.testing.assert_allclose(history["loss"][0], np.sum(w * terms["loss"]) / np.sum(w), rtol=1e-5)
    np.testing.assert_allclose(history["elbo"][0], np.mean(terms["elbo"]), rtol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def _geco_vae():
    constraint = keras_vae.layers.GECO(kappa=3.0, nu=0.05, initial_multiplier=2.0)
    return keras_vae.models.VAE(
        latent_dim=2, hidden_units=(8,), beta=0.5, constraint=constraint, seed=0
    )


def _lagrangian(terms, beta, lam, kappa):
    c = -np.mean(terms["reconstruction"])
    return beta * np.mean(terms["kl"]) + lam * (c - kappa**2), c


@pytest.mark.parametrize("jit_compile", [True, False])
def test_geco_loss_is_the_lagrangian_of_the_per_example_terms(jit_compile):
    x = _binary(16)
    model, twin = _twins(_geco_vae, jit_compile)

    # evaluate: lambda stays at its initial value.
    result = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    expected, c = _lagrangian(_numpy_terms(twin, x, False, jit_compile), 0.5, 2.0, 3.0)
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(result["constraint"], c, rtol=1e-5)
    assert result["lambda"] == pytest.approx(2.0)

    # fit: the step moves lambda from the batch's C first, then uses it.
    history = model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    lam = float(ops.convert_to_numpy(model.constraint.multiplier))
    assert lam != pytest.approx(2.0)
    expected, c = _lagrangian(_numpy_terms(twin, x, True, jit_compile), 0.5, lam, 3.0)
    np.testing.assert_allclose(history["loss"][0], expected, rtol=1e-5)
    np.testing.assert_allclose(history["constraint"][0], c, rtol=1e-5)
    np.testing.assert_allclose(history["lambda"][0], lam, rtol=1e-6)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_model" / "train.py"


def test_example_iwae_returns_per_example_terms_and_calls_deterministically():
    spec = importlib.util.spec_from_file_location("custom_model_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.IWAE(latent_dim=2, hidden_units=(8,), num_importance_samples=3, seed=0)
    x = _binary(5)
    model.build(x.shape)
    state = ops.convert_to_numpy(model.sampler.seed_generator.state)
    terms = model.compute_terms(ops.convert_to_tensor(x))
    assert {key: tuple(v.shape) for key, v in terms.items()} == {
        key: (5,) for key in ("loss", "iwae_bound", "reconstruction", "kl")
    }
    # beta = 1: each example's loss is its negative bound.
    np.testing.assert_allclose(terms["loss"], -np.asarray(terms["iwae_bound"]), rtol=1e-6)
    # Per example, the bound of the same k log weights (the same draws).
    model.sampler.seed_generator.state.assign(state)
    log_w = np.asarray(model.log_importance_weights(ops.convert_to_tensor(x), 3), "float64")
    bound = np.logaddexp.reduce(log_w, axis=0) - np.log(3)
    np.testing.assert_allclose(terms["iwae_bound"], bound, rtol=1e-5)
    first = np.asarray(model(x))
    np.testing.assert_array_equal(np.asarray(model(x)), first)
    np.testing.assert_allclose(np.asarray(model.reconstruct(x)), first, rtol=1e-6)
