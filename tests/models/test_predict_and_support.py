"""`predict` is deterministic, and dynamic binarization needs binary data.

- `predict(x)` of every registered keras_vae model is its deterministic
  reconstruction: two calls return the same values, equal to
  `reconstruct(x)` (the mean of p(x | z) at the posterior mean; a VQVAE's
  reconstruction at its code map) and to `model(x)`. It used to be one
  Monte Carlo draw z ~ q(z | x) per call.
- `dynamic_binarization=True` with a likelihood that does not declare binary
  data (`Likelihood.binary`) is refused at construction by every model that
  has the option; it used to binarize real-valued data silently.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae import likelihoods
from keras_vae.models import VAE
from keras_vae.models import VHPVAE
from keras_vae.models import VQVAE
from keras_vae.models import Autoencoder
from keras_vae.models import HierarchicalVAE
from keras_vae.models import LadderVAE
from keras_vae.testing import conformance


def _cases():
    cases = []
    for name in conformance.names_of_kind("model"):
        if not issubclass(conformance.resolve(name), Autoencoder):
            continue  # PixelCNN: a prior over codes, deterministic logits
        for i, spec in enumerate(conformance.specs(name)):
            cases.append(pytest.param(name, spec, id=f"{name.rsplit('.', 1)[-1]}[{i}]"))
    return cases


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("name, spec", _cases())
def test_predict_is_the_deterministic_reconstruction(name, spec):
    model = conformance.resolve(name)(**spec.init_kwargs)
    x, c = conformance.model_data(spec)  # c: a conditional model's condition
    model.build((None,) + x.shape[1:])
    # Eager steps: the XLA step is checked once below; compiling each model
    # would cost seconds apiece.
    model.compile(optimizer="adam", jit_compile=False)
    inputs = conformance.model_inputs(x, c)
    first = model.predict(inputs, batch_size=4, verbose=0)
    second = model.predict(inputs, batch_size=4, verbose=0)
    np.testing.assert_array_equal(first, second)
    extra = {} if c is None else {"condition": c}
    reconstruction = _numpy(model.reconstruct(x, **extra))
    assert first.shape == reconstruction.shape == x.shape
    np.testing.assert_allclose(first, reconstruction, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(model(inputs)), reconstruction, rtol=1e-5, atol=1e-6)
    # Streamed data takes the same step.
    streamed = model.predict(tf.data.Dataset.from_tensor_slices(inputs).batch(4), verbose=0)
    np.testing.assert_array_equal(streamed, first)


def test_predict_under_xla_after_training_is_the_reconstruction():
    # Trained, so q(z | x) is not the initial one; the default compile (XLA).
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(64, 4, 4, 1)) < 0.4).astype("float32")
    model = VAE(latent_dim=2, hidden_units=(16,), seed=3)
    model.compile(optimizer="adam")
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x, verbose=0))
    np.testing.assert_allclose(first, _numpy(model.reconstruct(x)), rtol=1e-5, atol=1e-6)
    # `evaluate` stays a Monte Carlo estimate of the objective.
    assert model.evaluate(x, verbose=0) != model.evaluate(x, verbose=0)


SMALL_VQ = dict(num_embeddings=4, embedding_dim=2, filters=4, residual_units=2)

REFUSED = [
    pytest.param(VAE, dict(latent_dim=2, likelihood="gaussian"), id="VAE-gaussian"),
    pytest.param(
        VAE, dict(latent_dim=2, likelihood="discretized_logistic"), id="VAE-discretized_logistic"
    ),
    pytest.param(
        VAE,
        dict(latent_dim=2, likelihood=likelihoods.Gaussian(learn_scale=True)),
        id="VAE-learned_gaussian",
    ),
    pytest.param(HierarchicalVAE, dict(likelihood="gaussian"), id="HierarchicalVAE-gaussian"),
    pytest.param(
        LadderVAE,
        dict(latent_dims=(2,), hidden_units=(4,), likelihood="gaussian"),
        id="LadderVAE-gaussian",
    ),
    pytest.param(VHPVAE, dict(kappa=4.0, likelihood="gaussian"), id="VHPVAE-gaussian"),
    pytest.param(VQVAE, dict(SMALL_VQ), id="VQVAE-mse"),
    pytest.param(VQVAE, dict(SMALL_VQ, likelihood="gaussian"), id="VQVAE-gaussian"),
    pytest.param(
        VQVAE,
        dict(SMALL_VQ, likelihood="discretized_logistic"),
        id="VQVAE-discretized_logistic",
    ),
]


@pytest.mark.parametrize("cls, kwargs", REFUSED)
def test_dynamic_binarization_of_non_binary_data_is_refused(cls, kwargs):
    with pytest.raises(ValueError, match="Expected a likelihood of binary data") as info:
        cls(dynamic_binarization=True, **kwargs)
    assert "Received: dynamic_binarization=True with likelihood=" in str(info.value)
    # The same model without it, or with a Bernoulli likelihood, is fine.
    cls(**kwargs)
    kwargs = dict(kwargs, likelihood="bernoulli")
    assert cls(dynamic_binarization=True, **kwargs).dynamic_binarization


def test_a_likelihood_swapped_after_construction_is_refused_by_fit():
    # The step checks again when it is traced, before any update.
    model = VAE(latent_dim=2, hidden_units=(4,), dynamic_binarization=True, seed=0)
    model.likelihood = likelihoods.Gaussian()
    model.compile(optimizer="adam", jit_compile=False)
    x = np.random.default_rng(0).uniform(size=(16, 4, 4, 1)).astype("float32")
    with pytest.raises(ValueError, match="Expected a likelihood of binary data"):
        model.fit(x, epochs=1, batch_size=8, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0
