"""Tests for `keras_vae.losses.minibatch_log_q` and `total_correlation`.

Oracles (numpy/scipy, independent of keras):

1. The aggregate posterior of N Gaussians whose means are drawn from
   N(0, R - s^2 I) with scale s is close to N(0, R): the batch-as-dataset
   TC estimate ("stratified", M = N) matches -1/2 log det R.
2. With the batch equal to the dataset, "stratified" is the exact mixture
   density (scipy logsumexp) and "mws" is it minus log N, so their TCs
   differ by (d - 1) log N exactly.
"""

import math

import numpy as np
import pytest
from keras import ops
from scipy.special import logsumexp
from scipy.stats import norm

from keras_vae import losses


def _gaussian_posteriors(n, correlation, s, seed):
    rng = np.random.default_rng(seed)
    d = len(correlation)
    loc = rng.multivariate_normal(np.zeros(d), correlation - s * s * np.eye(d), size=n)
    scale = np.full_like(loc, s)
    z = loc + s * rng.normal(size=loc.shape)
    return (a.astype("float32") for a in (z, loc, scale))


def test_total_correlation_of_a_gaussian_matches_the_closed_form():
    correlation = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]])
    exact = -0.5 * np.log(np.linalg.det(correlation))
    z, loc, scale = _gaussian_posteriors(2000, correlation, 0.5, seed=0)
    tc = ops.convert_to_numpy(losses.total_correlation(z, loc, scale, 2000, "stratified"))
    # Sampling error of the mean (sd ~ 0.7 / sqrt(2000)) plus the mixture's
    # smoothing bias, ~0.01 nats here.
    assert abs(tc.mean() - exact) < 0.06, (tc.mean(), exact)


def test_independent_coordinates_have_no_total_correlation():
    z, loc, scale = _gaussian_posteriors(1500, np.eye(3), 0.5, seed=1)
    tc = ops.convert_to_numpy(losses.total_correlation(z, loc, scale, 1500, "stratified"))
    assert abs(tc.mean()) < 0.03


def test_whole_dataset_batch_is_the_exact_mixture_and_mws_its_offset():
    n, d = 64, 3
    z, loc, scale = _gaussian_posteriors(n, np.eye(d), 0.4, seed=2)
    per_dim = norm.logpdf(z[:, None, :], loc[None], scale[None])  # (n, n, d)
    exact_joint = logsumexp(per_dim.sum(-1), axis=1) - math.log(n)
    exact_marginals = logsumexp(per_dim, axis=1) - math.log(n)
    log_q, log_q_d = (
        ops.convert_to_numpy(t) for t in losses.minibatch_log_q(z, loc, scale, n, "stratified")
    )
    np.testing.assert_allclose(log_q, exact_joint, atol=1e-4)
    np.testing.assert_allclose(log_q_d, exact_marginals, atol=1e-4)
    mws_q, mws_d = (ops.convert_to_numpy(t) for t in losses.minibatch_log_q(z, loc, scale, n))
    np.testing.assert_allclose(mws_q, exact_joint - math.log(n), atol=1e-4)
    np.testing.assert_allclose(mws_d, exact_marginals - math.log(n), atol=1e-4)
    tc_mws = ops.convert_to_numpy(losses.total_correlation(z, loc, scale, n))
    tc_strat = ops.convert_to_numpy(losses.total_correlation(z, loc, scale, n, "stratified"))
    np.testing.assert_allclose(tc_mws - tc_strat, (d - 1) * math.log(n), atol=1e-3)


def test_stratified_weights_follow_the_dataset_size():
    # One example's own posterior keeps weight 1/N, the others share the rest.
    n_data = 1000
    z, loc, scale = _gaussian_posteriors(4, np.eye(2), 0.3, seed=3)
    per_dim = norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
    weights = np.full((4, 4), (n_data - 1) / (n_data * 3))
    np.fill_diagonal(weights, 1.0 / n_data)
    expected = logsumexp(per_dim, axis=1, b=weights)
    log_q, _ = losses.minibatch_log_q(z, loc, scale, n_data, "stratified")
    np.testing.assert_allclose(ops.convert_to_numpy(log_q), expected, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"dataset_size": 0}, "dataset_size"), ({"estimator": "mss"}, "estimator")],
)
def test_invalid_arguments(kwargs, match):
    z = np.zeros((2, 2), "float32")
    args = {"dataset_size": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        losses.minibatch_log_q(z, z, np.ones_like(z), **args)
