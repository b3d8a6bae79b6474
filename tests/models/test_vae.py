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


def true_log_px(x, seed=0, flip=0.1):
    """log p(x) under the distribution `make_data` draws from (closed form)."""
    prototypes = np.random.default_rng(seed).random((4,) + SHAPE) < 0.5
    x = x.reshape(len(x), -1).astype("float64")
    p = prototypes.reshape(4, -1).astype("float64")
    matches = x @ p.T + (1 - x) @ (1 - p).T  # (n, 4)
    log_terms = matches * np.log1p(-flip) + (x.shape[1] - matches) * np.log(flip)
    return np.logaddexp.reduce(log_terms, axis=1) + np.log(0.25)


def factorized_log_px(x):
    """log p(x) under the fitted independent-pixel Bernoulli model of `x`."""
    x = x.reshape(len(x), -1).astype("float64")
    freq = np.clip(x.mean(0), 1e-6, 1 - 1e-6)
    return (x * np.log(freq) + (1 - x) * np.log1p(-freq)).sum(1)


# Measured on X: true -22.7, trained ELBO about -26.6, factorized -38.6, an
# untrained VAE's ELBO about -67.
TRUE_LOG_PX = float(np.mean(true_log_px(X)))
FACTORIZED_LOG_PX = float(np.mean(factorized_log_px(X)))
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
        latent_dim=2, hidden_units=(16,), objective="iwae", num_importance_samples=5, seed=2
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
    # Not a surrogate: the reported ELBO lies below E log p(x) of the true
    # data distribution (a bound no model beats on fresh data, and a 2-d
    # latent cannot memorize the flips) and above the best independent-pixel
    # model, which ignores the four prototypes a 2-d latent captures.
    assert FACTORIZED_LOG_PX + 5.0 < logs["elbo"] < TRUE_LOG_PX, logs["elbo"]


def test_compute_loss_is_the_evaluated_objective(elbo_model):
    model, _ = elbo_model
    logs = model.evaluate(X_TILED, batch_size=X_TILED.shape[0], verbose=0, return_dict=True)
    loss = float(model.compute_loss(x=ops.convert_to_tensor(X_TILED), training=False))
    # Two Monte Carlo estimates over 2560 rows; the spread of the per-row
    # loss here is a few nats, so the means agree to well under 1 %.
    assert loss == pytest.approx(logs["loss"], rel=0.01)
    assert -TRUE_LOG_PX < loss < -FACTORIZED_LOG_PX - 5.0, loss


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
    np.testing.assert_allclose(history["loss"], -np.array(history["iwae_bound"]), rtol=1e-5)


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


class SumBernoulli(ProbeBernoulli):
    """A probe that also sums the x it sees, per example and pixel."""

    def build(self, input_shape):
        super().build(input_shape)
        self.x_sum = self.add_weight(
            name="x_sum", shape=(64,) + SHAPE, initializer="zeros", trainable=False
        )

    def log_prob(self, x, params):
        self.x_sum.assign_add(ops.cast(x, "float32"))
        return super().log_prob(x, params)


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


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "xla"])
def test_dynamic_binarization_draws_anew_every_step(jit_compile):
    # Under XLA too (the paper's setting; the test above runs eagerly).
    # One batch of 64 grey images, 40 steps: the per-pixel count of ones is
    # Binomial(40, grey). A draw frozen into the compiled step would give
    # counts of 0 or 40 only; a per-step draw is unbiased for 40 * grey.
    steps = 40
    grey = np.random.default_rng(3).uniform(0.2, 0.8, (64,) + SHAPE).astype("float32")
    probe = SumBernoulli()
    model = VAE(
        latent_dim=2, hidden_units=(8,), likelihood=probe, dynamic_binarization=True, seed=5
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile)
    model.fit(grey, epochs=steps, batch_size=64, shuffle=False, verbose=0)
    counts = probe.x_sum.numpy()
    assert float(probe.max_grey.numpy()) == 0.0
    assert np.mean((counts > 0) & (counts < steps)) > 0.9, np.unique(counts)
    z = (counts - steps * grey) / np.sqrt(steps * grey * (1 - grey))
    assert abs(z.mean()) < 4.0 / np.sqrt(z.size) and 0.8 < z.var() < 1.2


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


def _seed_states(model):
    """Every seed-generator state the model owns (its own and its layers')."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


@pytest.mark.parametrize("prior", ["standard_normal", "mixture"])
def test_sample_is_decode_of_prior_samples_under_the_same_seed_state(prior):
    # Whatever generator each part draws from, restoring every seed state
    # replays the same draws: sample(n) must be decode(prior.sample(n)).
    prior = MixtureOfGaussians(3, seed=5) if prior == "mixture" else None
    kwargs = {} if prior is None else {"prior": prior}
    model = VAE(latent_dim=2, hidden_units=(16,), seed=6, **kwargs)
    model.build((None,) + SHAPE)
    if prior is not None:  # components far apart: N(0, I) draws would show
        prior.means.assign(np.array([[-6, 0], [6, 0], [0, 6]], "float32"))
    states = [v.numpy().copy() for v in _seed_states(model)]
    samples = np.asarray(model.sample(50))
    for variable, value in zip(_seed_states(model), states):
        variable.assign(value)
    z = model.prior.sample(50)
    np.testing.assert_allclose(samples, np.asarray(model.decode(z)), atol=1e-6)
    # The state advanced: the next call draws anew.
    assert not np.allclose(np.asarray(model.sample(50)), samples)


def test_sample_moments_of_a_linear_gaussian_vae():
    # sample() = E[x | z] = W z + b at z ~ N(0, I): mean b, covariance W W^T.
    from keras_vae.testing.linear_gaussian import linear_gaussian_vae

    model, _ = linear_gaussian_vae(3, 5, scale=0.5, seed=7)
    dense = model.decoder.layers[0]
    w, b = np.asarray(dense.kernel, "float64").T, np.asarray(dense.bias, "float64")
    samples = np.asarray(model.sample(40_000), "float64")
    np.testing.assert_allclose(samples.mean(0), b, atol=0.04)
    np.testing.assert_allclose(np.cov(samples.T), w @ w.T, atol=0.08)


def test_log_likelihood_matches_elbo_and_grows_with_samples(elbo_model):
    model, _ = elbo_model
    ll_1 = model.log_likelihood(X_TILED, num_importance_samples=1)
    assert ll_1.shape == (len(X_TILED),)
    assert np.all(np.isfinite(ll_1))
    logs = model.evaluate(X_TILED, batch_size=128, verbose=0, return_dict=True)
    se = ll_1.std() / np.sqrt(ll_1.size)
    assert ll_1.mean() == pytest.approx(logs["elbo"], abs=4 * se)

    # chunk_size=1 reuses the compiled one-sample function 20 times.
    ll_20 = model.log_likelihood(X_TILED, num_importance_samples=20, chunk_size=1)
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
        num_importance_samples=3,
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
