"""Tests of `keras_vae.models.VAE`: training, objectives, methods, saving.

The data are tiny binary 8x8 images drawn around four random prototypes, so
a 2-d latent space has something to encode. Statistical checks compare
means over many repeats against their standard errors.
"""

import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_vae.likelihoods import Bernoulli
from keras_vae.likelihoods import Gaussian
from keras_vae.losses import iwae_bound
from keras_vae.models import VAE
from keras_vae.priors import MixtureOfGaussians

SHAPE = (8, 8, 1)
N = 128


def make_data(n=N, seed=0, flip=0.1):
    rng = np.random.default_rng(seed)
    prototypes = rng.random((4,) + SHAPE) < 0.5
    x = prototypes[rng.integers(0, 4, size=n)]
    x = np.logical_xor(x, rng.random(x.shape) < flip)
    return x.astype("float32")


X = make_data()
REPEATS = 20
X_TILED = np.tile(X, (REPEATS, 1, 1, 1))  # 2560 rows: many MC draws per image


def fit_model(model, x=X, epochs=10, jit_compile=True, lr=2e-2, **kwargs):
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=jit_compile)
    return model.fit(x, epochs=epochs, batch_size=32, verbose=0, **kwargs).history


def assert_decreasing(losses, margin):
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] - margin, losses


@pytest.fixture(scope="module")
def elbo_model():
    model = VAE(latent_dim=2, hidden_units=(16,), seed=1)
    history = fit_model(model)
    return model, history


@pytest.fixture(scope="module")
def iwae_model():
    model = VAE(
        latent_dim=2, hidden_units=(16,), objective="iwae", num_samples=5, seed=2
    )
    history = fit_model(model)
    return model, history


# ------------------------------------------------------------------ training


def test_elbo_trains_with_xla(elbo_model):
    model, history = elbo_model
    assert set(history) == {"loss", "elbo", "reconstruction", "kl", "beta"}
    assert_decreasing(history["loss"], margin=3.0)
    loss, elbo = np.array(history["loss"]), np.array(history["elbo"])
    rec, kl = np.array(history["reconstruction"]), np.array(history["kl"])
    np.testing.assert_allclose(history["beta"], 1.0)
    np.testing.assert_allclose(loss, -elbo, rtol=1e-5)
    np.testing.assert_allclose(elbo, rec - kl, rtol=1e-5)
    assert np.all(kl > 0.0)


def test_elbo_evaluate_reports_training_objective(elbo_model):
    model, _ = elbo_model
    logs = model.evaluate(X, batch_size=128, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "elbo", "reconstruction", "kl", "beta"}
    assert logs["loss"] == pytest.approx(-logs["elbo"], rel=1e-5)
    assert logs["elbo"] == pytest.approx(logs["reconstruction"] - logs["kl"], rel=1e-5)
    # Not a surrogate: the reported ELBO is a bound below the data's entropy
    # limit (log p(x) <= 0 for binary data) and near the training value.
    assert logs["elbo"] < 0.0


def test_compute_loss_is_the_evaluated_objective(elbo_model):
    model, _ = elbo_model
    logs = model.evaluate(X_TILED, batch_size=X_TILED.shape[0], verbose=0, return_dict=True)
    loss = float(model.compute_loss(x=ops.convert_to_tensor(X_TILED), training=False))
    # Two Monte Carlo estimates over 2560 rows; the spread of the per-row
    # loss here is a few nats, so the means agree to well under 1 %.
    assert loss == pytest.approx(logs["loss"], rel=0.01)
    assert loss > 0.0


def test_beta_weights_the_kl_in_train_and_evaluate(elbo_model):
    model, _ = elbo_model
    try:
        model.beta.assign(0.5)
        # The compiled steps read the variable: no retrace, new objective.
        logs = model.evaluate(X, batch_size=128, verbose=0, return_dict=True)
        rec, kl = logs["reconstruction"], logs["kl"]
        assert kl > 0.1
        assert logs["beta"] == 0.5
        assert logs["loss"] == pytest.approx(-(rec - 0.5 * kl), rel=1e-5)
        assert logs["elbo"] == pytest.approx(rec - kl, rel=1e-5)  # still beta = 1
        assert logs["loss"] == pytest.approx(-logs["elbo"] - 0.5 * kl, rel=1e-5)

        history = model.fit(X, epochs=1, batch_size=32, verbose=0).history
        np.testing.assert_allclose(history["beta"], 0.5)
        rec, kl = history["reconstruction"][0], history["kl"][0]
        assert history["loss"][0] == pytest.approx(-(rec - 0.5 * kl), rel=1e-5)
        assert history["elbo"][0] == pytest.approx(rec - kl, rel=1e-5)
    finally:
        model.beta.assign(1.0)


def test_iwae_trains_with_xla(iwae_model):
    model, history = iwae_model
    assert set(history) == {"loss", "iwae_bound", "reconstruction", "kl", "beta"}
    assert_decreasing(history["loss"], margin=3.0)
    np.testing.assert_allclose(
        history["loss"], -np.array(history["iwae_bound"]), rtol=1e-5
    )


def test_iwae_logged_bound_is_the_true_bound(iwae_model):
    model, _ = iwae_model
    # Each of the 2560 rows draws its own 5 samples: a mean over 20 repeats.
    logs = model.evaluate(X_TILED, batch_size=128, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "iwae_bound", "reconstruction", "kl", "beta"}
    assert logs["loss"] == pytest.approx(-logs["iwae_bound"], rel=1e-5)

    log_w = model.log_importance_weights(ops.convert_to_tensor(X_TILED), 5)
    assert tuple(log_w.shape) == (5, len(X_TILED))
    oracle = np.asarray(iwae_bound(log_w))
    elbo = np.asarray(ops.mean(log_w, axis=0))  # what a surrogate would log
    se = oracle.std() / np.sqrt(oracle.size)
    # The check can tell the bound from the ELBO: their gap is many SEs.
    assert oracle.mean() - elbo.mean() > 8 * se, (oracle.mean(), elbo.mean(), se)
    assert logs["iwae_bound"] == pytest.approx(oracle.mean(), abs=4 * np.sqrt(2) * se)


# ------------------------------------------------------- dynamic binarization


class ProbeBernoulli(Bernoulli):
    """A Bernoulli likelihood recording how far the last x was from binary."""

    def build(self, input_shape):
        self.max_grey = self.add_weight(
            name="max_grey", shape=(), initializer="zeros", trainable=False
        )

    def log_prob(self, x, params):
        x32 = ops.cast(x, "float32")
        self.max_grey.assign(ops.max(ops.minimum(x32, 1.0 - x32)))
        return super().log_prob(x, params)


def test_binarize_is_an_unbiased_bernoulli_draw():
    model = VAE(latent_dim=2, hidden_units=(16,), seed=3)
    grey = np.random.default_rng(1).random((16,) + SHAPE).astype("float32")
    draws = 400
    tiled = ops.convert_to_tensor(np.tile(grey, (draws, 1, 1, 1)))
    x_b = np.asarray(model.binarize(tiled))
    assert set(np.unique(x_b)) == {0.0, 1.0}
    mean = x_b.reshape((draws,) + grey.shape).mean(axis=0)
    tol = 4.5 * np.sqrt(grey * (1 - grey) / draws) + 1e-3
    assert np.all(np.abs(mean - grey) <= tol)
    # Distinct draws, not one fixed threshold.
    assert not np.array_equal(x_b[:16], x_b[16:32])


def test_dynamic_binarization_trains_on_binary_batches():
    rng = np.random.default_rng(2)
    grey = rng.random((64,) + SHAPE).astype("float32")
    probe = ProbeBernoulli()
    model = VAE(
        latent_dim=2,
        hidden_units=(16,),
        likelihood=probe,
        dynamic_binarization=True,
        seed=4,
    )
    history = fit_model(model, grey, epochs=2, jit_compile=False)
    assert all(np.isfinite(history["loss"]))
    assert float(probe.max_grey.numpy()) == 0.0  # the train step saw {0, 1}
    model.compute_terms(ops.convert_to_tensor(grey), training=True)
    assert float(probe.max_grey.numpy()) > 0.4  # the probe does see grey values


# ------------------------------------------------------------------ methods


def test_encode_decode_reconstruct_sample(elbo_model):
    model, _ = elbo_model
    loc, scale = model.encode(X[:16])
    assert tuple(loc.shape) == tuple(scale.shape) == (16, 2)
    assert np.all(np.asarray(scale) > 0)

    z = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    mean = np.asarray(model.decode(z))
    assert mean.shape == (5,) + SHAPE
    assert np.all((mean >= 0) & (mean <= 1))

    rec = np.asarray(model.reconstruct(X[:16]))
    assert rec.shape == (16,) + SHAPE
    assert np.all((rec >= 0) & (rec <= 1))
    # Deterministic: the decoder mean at the posterior mean.
    np.testing.assert_allclose(rec, np.asarray(model.decode(loc)), rtol=1e-6)
    # Trained reconstructions resemble their own input (a constant 0.5 guess
    # scores 0.5), more than they resemble other inputs.
    error = np.mean(np.abs(rec - X[:16]))
    assert error < 0.3
    assert error < np.mean(np.abs(rec - X[16:32])) - 0.1

    samples = np.asarray(model.sample(7))
    assert samples.shape == (7,) + SHAPE
    assert np.all((samples >= 0) & (samples <= 1))


def test_log_likelihood_matches_elbo_and_grows_with_samples(elbo_model):
    model, _ = elbo_model
    ll_1 = model.log_likelihood(X_TILED, num_samples=1)
    assert ll_1.shape == (len(X_TILED),)
    assert np.all(np.isfinite(ll_1))
    logs = model.evaluate(X_TILED, batch_size=128, verbose=0, return_dict=True)
    se = ll_1.std() / np.sqrt(ll_1.size)
    assert ll_1.mean() == pytest.approx(logs["elbo"], abs=4 * se)

    # chunk_size=1 reuses the compiled one-sample function 20 times.
    ll_20 = model.log_likelihood(X_TILED, num_samples=20, chunk_size=1)
    assert ll_20.shape == (len(X_TILED),) and np.all(np.isfinite(ll_20))
    gain = ll_20 - ll_1
    assert gain.mean() > 4 * gain.std() / np.sqrt(gain.size)
    assert np.all(ll_20 < 0.0)  # log p(x) of binary data is negative


# ------------------------------------------------------------ serialization


def perturb(model, seed=0):
    """Move every trainable weight away from its (seeded) initial value."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        v.assign(np.asarray(v) + rng.normal(0, 0.1, size=v.shape).astype("float32"))


def assert_same_weights(a, b):
    # Auto-generated layer names get new suffixes in a session, so compare
    # variables in order, by their own name (kernel, bias, ...) and value.
    assert [v.name for v in a.weights] == [v.name for v in b.weights]
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=va.path)


def as_json(config):
    """The config as saved: JSON turns tuples into lists."""
    return json.loads(json.dumps(config))


def assert_round_trip(model, tmp_path, x):
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is VAE
    assert_same_weights(model, loaded)
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(
        np.asarray(model.reconstruct(x)), np.asarray(loaded.reconstruct(x))
    )
    # get_config / from_config round trip.
    config = model.get_config()
    clone = VAE.from_config(config)
    assert as_json(clone.get_config()) == as_json(config)
    assert as_json(loaded.get_config()) == as_json(config)
    return loaded


def test_save_load_default_model(elbo_model, tmp_path):
    model, _ = elbo_model
    try:
        model.beta.assign(0.25)
        loaded = assert_round_trip(model, tmp_path, X[:16])
        assert float(loaded.beta.numpy()) == 0.25
    finally:
        model.beta.assign(1.0)
    # The optimizer state came along; training continues.
    iterations = int(model.optimizer.iterations.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == iterations
    loaded.beta.assign(1.0)
    loaded.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    before = [np.asarray(w) for w in loaded.trainable_weights]
    history = loaded.fit(X, epochs=1, batch_size=32, verbose=0).history
    assert np.isfinite(history["loss"][0])
    # Near the original model's last training loss: not a fresh model.
    trained = model.evaluate(X, batch_size=128, verbose=0, return_dict=True)["loss"]
    assert history["loss"][0] < trained + 3.0
    after = [np.asarray(w) for w in loaded.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_save_load_user_encoder_decoder(tmp_path):
    encoder = keras.Sequential(
        [keras.layers.Flatten(), keras.layers.Dense(16, activation="tanh")], name="enc"
    )
    decoder = keras.Sequential(
        [
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(64),
            keras.layers.Reshape(SHAPE),
        ],
        name="dec",
    )
    model = VAE(encoder=encoder, decoder=decoder, latent_dim=3, beta=0.5, seed=5)
    model.build((None,) + SHAPE)
    perturb(model)
    assert model.get_config()["encoder"] is not None
    loaded = assert_round_trip(model, tmp_path, X[:16])
    assert loaded.encoder.name == "enc" and loaded.decoder.name == "dec"
    assert float(loaded.beta.numpy()) == 0.5
    history = fit_model(loaded, epochs=1, jit_compile=False)
    assert np.isfinite(history["loss"][0])


def test_save_load_mixture_prior_and_learned_gaussian_scale(tmp_path):
    grey = np.random.default_rng(3).random((64,) + SHAPE).astype("float32")
    model = VAE(
        latent_dim=2,
        hidden_units=(16,),
        prior=MixtureOfGaussians(3),
        likelihood=Gaussian(learn_scale=True),
        objective="iwae",
        num_samples=3,
        seed=6,
    )
    model.build((None,) + SHAPE)
    perturb(model)
    paths = [v.path for v in model.weights]
    assert any("log_scale" in p for p in paths) and any("means" in p for p in paths)
    loaded = assert_round_trip(model, tmp_path, grey[:16])
    assert isinstance(loaded.prior, MixtureOfGaussians)
    assert loaded.likelihood.learn_scale
    np.testing.assert_array_equal(
        np.asarray(model.prior.log_prob(np.zeros((4, 2), "float32"))),
        np.asarray(loaded.prior.log_prob(np.zeros((4, 2), "float32"))),
    )
    history = fit_model(loaded, grey, epochs=1, jit_compile=False)
    assert np.isfinite(history["loss"][0])
