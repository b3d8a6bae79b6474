"""Tests for `keras_vae.diagnostics.log_likelihood` on a model with known log p(x).

The oracle is the linear-Gaussian model p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I),
whose marginal p(x) = N(b, W W^T + s^2 I) scipy evaluates exactly.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_vae import diagnostics
from keras_vae.losses import iwae_bound
from keras_vae.testing import linear_gaussian as linear_gaussian_lib
from keras_vae.testing.linear_gaussian import linear_gaussian_vae

LATENT, DATA, SCALE = 3, 6, 0.5


def sample_data(model, n, seed):
    """Draws x ~ p(x) by ancestral sampling through the model's decoder."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, LATENT)).astype("float32")
    x = np.asarray(model.decode(z), "float64") + SCALE * rng.normal(size=(n, DATA))
    return x.astype("float32")


def scipy_log_px(model, x):
    """Independent oracle: N(x; b, W W^T + s^2 I) from the decoder's weights."""
    dense = model.decoder.layers[0]
    w = np.asarray(dense.kernel, "float64").T  # (D, d)
    b = np.asarray(dense.bias, "float64")
    cov = w @ w.T + SCALE**2 * np.eye(DATA)
    return stats.multivariate_normal(mean=b, cov=cov).logpdf(np.asarray(x, "float64"))


@pytest.fixture(scope="module")
def exact():
    model, exact_log_px = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3)
    x = sample_data(model, 60, seed=10)
    return model, exact_log_px, x, scipy_log_px(model, x)


@pytest.fixture(scope="module")
def perturbed():
    model, exact_log_px = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3, posterior="perturbed")
    x = sample_data(model, 60, seed=10)
    return model, exact_log_px, x, scipy_log_px(model, x)


def test_exact_log_px_matches_scipy(exact):
    model, exact_log_px, x, oracle = exact
    np.testing.assert_allclose(exact_log_px(x), oracle, rtol=0, atol=1e-9)


def test_exact_posterior_makes_every_weight_equal_log_px(exact):
    # With q(z|x) = p(z|x), w = p(x, z) / p(z | x) = p(x) for every z, so the
    # ELBO (mean log-weight) and every IWAE bound equal log p(x).
    model, _, x, oracle = exact
    log_w = np.asarray(model.log_importance_weights(x, 64), "float64")
    assert log_w.shape == (64, len(x))
    np.testing.assert_allclose(log_w, np.broadcast_to(oracle, log_w.shape), atol=1e-4)
    np.testing.assert_allclose(log_w.mean(axis=0), oracle, atol=1e-4)  # ELBO
    np.testing.assert_allclose(np.asarray(iwae_bound(log_w)), oracle, atol=1e-4)


def test_diagnostic_is_exact_with_exact_posterior(exact):
    model, _, x, oracle = exact
    result = diagnostics.log_likelihood(model, x, num_importance_samples=10, batch_size=30)
    assert isinstance(result, diagnostics.LogLikelihoodResult)
    assert result.log_likelihood.dtype == np.float64
    assert result.log_likelihood.shape == (len(x),)
    assert result.num_importance_samples == 10
    np.testing.assert_allclose(result.log_likelihood, oracle, atol=1e-4)
    assert isinstance(result.nll, float)
    assert result.nll == pytest.approx(-np.mean(result.log_likelihood), abs=1e-12)
    assert result.nll == pytest.approx(-np.mean(oracle), abs=1e-4)


def test_diagnostic_converges_with_a_worse_posterior(perturbed):
    model, _, x, oracle = perturbed
    # One sample gives the ELBO, which is below log p(x) by
    # KL(q || p(z|x)) = d/2 (f + m^2 - 1 - log f) for variances scaled by f and
    # means shifted by m posterior standard deviations.
    f = linear_gaussian_lib.PERTURBED_VARIANCE_FACTOR
    m = linear_gaussian_lib.PERTURBED_MEAN_SHIFT
    kl = LATENT / 2 * (f + m**2 - 1 - math.log(f))
    one = diagnostics.log_likelihood(model, x, num_importance_samples=1, batch_size=60)
    # The ELBO of 60 examples: each log-weight has sd below 2 nats here.
    assert np.mean(one.log_likelihood - oracle) == pytest.approx(-kl, abs=0.5)
    many = diagnostics.log_likelihood(model, x, num_importance_samples=5000, batch_size=30)
    assert abs(np.mean(many.log_likelihood - oracle)) < 0.05
    assert np.max(np.abs(many.log_likelihood - oracle)) < 0.2
    assert many.nll == pytest.approx(-np.mean(oracle), abs=0.05)


def test_iwae_bound_increases_with_k_toward_log_px(perturbed):
    # Burda et al. (2016), Theorem 1: E[L_1] <= E[L_5] <= E[L_50] <= log p(x).
    model, _, x, oracle = perturbed
    f = linear_gaussian_lib.PERTURBED_VARIANCE_FACTOR
    m = linear_gaussian_lib.PERTURBED_MEAN_SHIFT
    kl = LATENT / 2 * (f + m**2 - 1 - math.log(f))
    repeats = 100
    gaps = {}
    for k in (1, 5, 50):
        log_w = model.log_importance_weights(x, repeats * k)
        log_w = np.reshape(np.asarray(log_w), (repeats, k, len(x)))
        bounds = np.asarray(iwae_bound(log_w, axis=1), "float64")
        gaps[k] = float(np.mean(bounds - oracle))
    # Standard errors are below 0.02 nats (6000 estimates each).
    assert gaps[1] == pytest.approx(-kl, abs=0.06)
    assert gaps[1] < gaps[5] - 0.2
    assert gaps[5] < gaps[50] - 0.05
    assert gaps[50] < 0.02
    assert gaps[50] > -0.1


def test_same_result_for_any_batch_size_and_data_form(exact):
    model, _, x, oracle = exact
    # Every distinct batch shape costs an XLA compile in `model.log_likelihood`,
    # so the forms below reuse the batch sizes 7 (with a remainder of 4) and 60.
    kwargs = dict(num_importance_samples=3)
    reference = diagnostics.log_likelihood(model, x, batch_size=len(x), **kwargs)
    np.testing.assert_allclose(reference.log_likelihood, oracle, atol=1e-4)
    labels = np.arange(len(x))
    forms = {
        "batch 7": (x, 7),
        "batch 100": (x, 100),
        "tensor": (tf.constant(x), 7),
        "unbatched dataset": (tf.data.Dataset.from_tensor_slices(x), 7),
        "batched dataset": (tf.data.Dataset.from_tensor_slices(x).batch(9), 60),
        "(x, y) dataset": (
            tf.data.Dataset.from_tensor_slices((x, labels)).batch(8),
            7,
        ),
        "drop_remainder": (tf.data.Dataset.from_tensor_slices(x).batch(20, True), 60),
    }
    for name, (data, batch_size) in forms.items():
        result = diagnostics.log_likelihood(model, data, batch_size=batch_size, **kwargs)
        np.testing.assert_allclose(
            result.log_likelihood, reference.log_likelihood, atol=1e-5, err_msg=name
        )


def test_remainder_chunk_and_batch_give_the_closed_form():
    # Every weight of the exact posterior is p(x): a last chunk counting
    # any number of samples but S - 8 = 2 (S = 10, chunks of 4) would be off
    # by log(count / 2); the last batch holds 60 - 2 * 25 = 10 examples.
    model, exact_log_px = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3)
    x = sample_data(model, 60, seed=11)
    result = diagnostics.log_likelihood(
        model, x, num_importance_samples=10, batch_size=25, chunk_size=4
    )
    np.testing.assert_allclose(result.log_likelihood, exact_log_px(x), atol=1e-4)


def test_every_chunk_draws_fresh_samples():
    # One sample per chunk: were the chunks to repeat their draws (a loop
    # body's random state not carried), the estimate would be one log weight,
    # the ELBO, below log p(x) by KL(q || p(z|x)) ~ 0.84 nats on average.
    model, exact_log_px = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3, posterior="perturbed")
    x = sample_data(model, 60, seed=12)
    kwargs = dict(num_importance_samples=50, batch_size=60, chunk_size=1)
    first = diagnostics.log_likelihood(model, x, **kwargs).log_likelihood
    gap = np.mean(first - exact_log_px(x))
    # The 50-sample bound: between -0.1 and 0 (test_iwae_bound_increases...).
    assert -0.3 < gap < 0.05
    # The random state advances between calls, and one seed gives one answer.
    second = diagnostics.log_likelihood(model, x, **kwargs).log_likelihood
    assert np.max(np.abs(second - first)) > 1e-3
    again, _ = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3, posterior="perturbed")
    np.testing.assert_allclose(
        diagnostics.log_likelihood(again, x, **kwargs).log_likelihood, first, rtol=0, atol=1e-6
    )


def test_max_examples(exact):
    model, _, x, oracle = exact
    result = diagnostics.log_likelihood(
        model, x, num_importance_samples=3, batch_size=7, max_examples=14
    )
    np.testing.assert_allclose(result.log_likelihood, oracle[:14], atol=1e-4)


class RecordingModel:
    """Any object with `log_likelihood` works; this one records its calls."""

    data_shape = (2,)

    def __init__(self):
        self.calls = []

    def log_likelihood(self, x, num_importance_samples=5000, chunk_size=None):
        self.calls.append((x.shape, num_importance_samples, chunk_size))
        return -np.sum(np.asarray(x, "float64") ** 2, axis=1)


def test_batches_and_arguments_are_forwarded():
    x = np.arange(46, dtype="float32").reshape(23, 2)
    model = RecordingModel()
    result = diagnostics.log_likelihood(
        model, x, num_importance_samples=17, batch_size=10, chunk_size=4
    )
    assert model.calls == [((10, 2), 17, 4), ((10, 2), 17, 4), ((3, 2), 17, 4)]
    sq_norms = np.sum(x.astype("float64") ** 2, axis=1)
    np.testing.assert_array_equal(result.log_likelihood, -sq_norms)
    assert result.nll == pytest.approx(np.mean(sq_norms))


def test_argument_errors(exact):
    model, _, x, _ = exact
    with pytest.raises(
        ValueError,
        match=r"Expected `num_importance_samples` to be a positive integer. "
        r"Received: num_importance_samples=0",
    ):
        diagnostics.log_likelihood(model, x, num_importance_samples=0)
    with pytest.raises(ValueError, match=r"Received: batch_size=-1"):
        diagnostics.log_likelihood(model, x, batch_size=-1)
    with pytest.raises(ValueError, match=r"Received: chunk_size=0"):
        diagnostics.log_likelihood(model, x, chunk_size=0)
    with pytest.raises(ValueError, match=r"Received: max_examples=2.5"):
        diagnostics.log_likelihood(model, x, max_examples=2.5)
    with pytest.raises(TypeError, match=r"`log_likelihood\(x, num_importance_samples"):
        diagnostics.log_likelihood(object(), x)
    with pytest.raises(ValueError, match=r"at least one example"):
        diagnostics.log_likelihood(model, x[:0], num_importance_samples=2)
    with pytest.raises(ValueError, match=r"rank 1 \(one example\) or 2"):
        diagnostics.log_likelihood(
            model, tf.data.Dataset.from_tensor_slices(x[:, :, None]).batch(4)
        )
    with pytest.raises(TypeError, match=r"Received: data of type int"):
        diagnostics.log_likelihood(model, 3)
