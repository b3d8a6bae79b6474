"""DiscretizedLogistic: a distribution over the bins, against a scipy oracle."""

import numpy as np
import pytest
from scipy import stats

import keras_vae
from keras_vae.likelihoods import DiscretizedLogistic


def _params(loc, log_scale):
    return np.stack([loc, log_scale], axis=-1).astype("float32")


def _oracle(loc, log_scale, num_bins=256):
    """(num_bins, n) bin probabilities in float64 from scipy's logistic CDF."""
    top = num_bins - 1
    centres = np.arange(num_bins)[:, None] / top
    scale = np.exp(np.asarray(log_scale, "float64"))
    upper = np.where(centres == 1.0, np.inf, (centres + 0.5 / top - loc) / scale)
    lower = np.where(centres == 0.0, -np.inf, (centres - 0.5 / top - loc) / scale)
    return stats.logistic.cdf(upper) - stats.logistic.cdf(lower)


def _all_bins_log_prob(lik, loc, log_scale, num_bins=256):
    """log P(x = c_k) for every bin k and parameter pair, shape (num_bins, n)."""
    n = len(loc)
    centres = (np.arange(num_bins, dtype="float32") / (num_bins - 1)).repeat(n)
    params = np.tile(_params(loc, log_scale), (num_bins, 1))
    log_p = lik.log_prob(centres.reshape(-1, 1), params.reshape(-1, 2))
    return np.asarray(log_p).reshape(num_bins, n)


RNG = np.random.default_rng(0)
LOC = np.concatenate([RNG.uniform(-0.5, 1.5, 20), [0.0, 1.0, 0.5, -40.0, 40.0]])
LOG_SCALE = np.concatenate([RNG.uniform(-7.0, 1.0, 20), [-7.0, -7.0, -7.0, -2.0, 0.0]])


@pytest.mark.parametrize("num_bins", [256, 5])
def test_probabilities_over_the_bins_sum_to_one(num_bins):
    lik = DiscretizedLogistic(num_bins=num_bins)
    log_p = _all_bins_log_prob(lik, LOC, LOG_SCALE, num_bins)
    assert np.all(np.isfinite(log_p))
    np.testing.assert_allclose(np.exp(log_p.astype("float64")).sum(0), 1.0, atol=2e-5)


def test_matches_scipy_logistic_cdf_differences():
    lik = DiscretizedLogistic()
    log_p = _all_bins_log_prob(lik, LOC, LOG_SCALE)
    oracle = _oracle(LOC, LOG_SCALE)
    # float32 arguments (x - mu) / s with s down to e^-7: relative errors ~3e-5.
    np.testing.assert_allclose(np.exp(log_p), oracle, rtol=1e-4, atol=1e-6)
    # In log space wherever the oracle itself is accurate (not a 1 - 1 cancellation).
    ok = oracle > 1e-6
    np.testing.assert_allclose(log_p[ok], np.log(oracle[ok]), rtol=1e-4, atol=2e-4)


def test_tails_stay_finite_and_accurate():
    # Far from the location the interior bins' probabilities underflow a
    # plain sigmoid difference; the log-space form keeps them.
    lik = DiscretizedLogistic()
    loc, log_scale = np.array([-3.0]), np.array([-5.0])
    log_p = _all_bins_log_prob(lik, loc, log_scale)[:, 0]
    scale = np.exp(-5.0)
    centres = np.arange(256) / 255
    a, b = (centres + 0.5 / 255 + 3.0) / scale, (centres - 0.5 / 255 + 3.0) / scale
    # log(sigmoid(a) - sigmoid(b)) for a, b >> 0: about -b + log(1 - e^{-(a-b)}).
    want = -b + np.log1p(-np.exp(-(a - b)))
    assert np.all(np.isfinite(log_p)) and log_p[128] < -400
    np.testing.assert_allclose(log_p[1:-1], want[1:-1], rtol=1e-5)


def test_log_prob_sums_event_axes_and_snaps_to_bins():
    lik = DiscretizedLogistic()
    rng = np.random.default_rng(1)
    x = (rng.integers(0, 256, size=(3, 4, 4, 2)) / 255).astype("float32")
    params = rng.normal(size=(3, 4, 4, 4)).astype("float32") * 0.5
    log_p = np.asarray(lik.log_prob(x, params))
    loc, log_scale = params[..., :2], params[..., 2:]
    oracle = _oracle(loc.ravel(), log_scale.ravel())
    levels = np.rint(x.ravel() * 255).astype(int)
    want = np.log(oracle[levels, np.arange(levels.size)]).reshape(x.shape).sum((1, 2, 3))
    np.testing.assert_allclose(log_p, want, rtol=1e-5)
    jitter = x + rng.uniform(-0.4, 0.4, size=x.shape).astype("float32") / 255
    np.testing.assert_allclose(lik.log_prob(jitter, params), log_p, rtol=1e-6)
    # Extra leading sample axes of params broadcast.
    assert lik.log_prob(x, np.stack([params, params])).shape == (2, 3)


def test_mean_is_the_exact_expectation():
    lik = DiscretizedLogistic()
    mean = np.asarray(lik.mean(_params(LOC, LOG_SCALE)))[:, 0]
    oracle = (_oracle(LOC, LOG_SCALE) * (np.arange(256) / 255)[:, None]).sum(0)
    np.testing.assert_allclose(mean, oracle, atol=2e-6)
    assert lik.compute_output_shape((None, 5, 6)) == (None, 5, 3)


def test_samples_follow_the_bin_probabilities():
    lik = DiscretizedLogistic(num_bins=6, seed=3)
    n = 20000
    params = np.tile(_params([0.45], [-2.0]), (n, 1))
    x = np.asarray(lik.sample(params))
    levels = x * 5
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-5)
    freq = np.bincount(np.rint(levels).astype(int).ravel(), minlength=6) / n
    probs = _oracle(np.array([0.45]), np.array([-2.0]), num_bins=6)[:, 0]
    # Binomial standard errors are below 0.0036 for n = 20000.
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_registered_alias_and_errors():
    lik = keras_vae.likelihoods.get("discretized_logistic")
    assert isinstance(lik, DiscretizedLogistic) and lik.params_per_channel == 2
    with pytest.raises(ValueError, match="Received: num_bins=1"):
        DiscretizedLogistic(num_bins=1)
    with pytest.raises(ValueError, match="min_log_scale"):
        DiscretizedLogistic(min_log_scale=1.0, max_log_scale=0.0)
    with pytest.raises(ValueError, match="even number of channels"):
        lik.mean(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="2 x 2 channels"):
        lik.log_prob(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32"))
