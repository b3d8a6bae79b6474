"""`diagnostics.frechet_distance`: the closed form between Gaussians.

Oracles: d^2 = ||mu_a - mu_b||^2 + sum_i (sigma_a,i - sigma_b,i)^2 for diagonal
(commuting) covariances; scipy's `sqrtm` of `S_a^(1/2) S_b S_a^(1/2)` for general ones.
"""

import numpy as np
import pytest
from scipy import linalg

from keras_vae import diagnostics


def _random_cov(rng, d, rank=None):
    m = rng.normal(size=(d, rank or d))
    return m @ m.T / d + (0.0 if rank else 0.1) * np.eye(d)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=4), rng.normal(size=4)
    sd_a, sd_b = rng.uniform(0.5, 2.0, size=4), rng.uniform(0.5, 2.0, size=4)
    want = np.sum((mu_a - mu_b) ** 2) + np.sum((sd_a - sd_b) ** 2)
    got = diagnostics.frechet_distance_from_moments(mu_a, np.diag(sd_a**2), mu_b, np.diag(sd_b**2))
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("rank_b", [None, 2])
def test_general_covariances_match_scipy_sqrtm(rank_b):
    rng = np.random.default_rng(1)
    d = 5
    mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
    cov_a, cov_b = _random_cov(rng, d), _random_cov(rng, d, rank_b)
    root_a = linalg.sqrtm(cov_a).real
    want = (
        np.sum((mu_a - mu_b) ** 2)
        + np.trace(cov_a)
        + np.trace(cov_b)
        - 2.0 * np.trace(linalg.sqrtm(root_a @ cov_b @ root_a).real)
    )
    got = diagnostics.frechet_distance_from_moments(mu_a, cov_a, mu_b, cov_b)
    assert got == pytest.approx(want, rel=1e-6)
    # Symmetric in its two Gaussians.
    assert diagnostics.frechet_distance_from_moments(mu_b, cov_b, mu_a, cov_a) == pytest.approx(
        got, rel=1e-8
    )


def test_large_samples_approach_the_population_distance():
    rng = np.random.default_rng(2)
    d, n = 3, 40_000
    mu_a, mu_b = np.zeros(d), np.array([1.0, -0.5, 0.0])
    cov_a = _random_cov(rng, d)
    sd_b = np.array([0.5, 1.0, 1.5])
    a = rng.multivariate_normal(mu_a, cov_a, size=n)
    b = mu_b + sd_b * rng.normal(size=(n, d))
    want = diagnostics.frechet_distance_from_moments(mu_a, cov_a, mu_b, np.diag(sd_b**2))
    # Sampling noise of the moments at n = 40,000: a few 1e-2 at most.
    assert diagnostics.frechet_distance(a, b) == pytest.approx(want, abs=0.03)


def test_same_features_give_zero_and_tensors_are_accepted():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 8)).astype("float32")
    assert diagnostics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    import keras

    assert diagnostics.frechet_distance(keras.ops.convert_to_tensor(a), a[::-1]) == pytest.approx(
        0.0, abs=1e-9
    )


def test_fewer_examples_than_features_is_finite():
    # Singular sample covariances (rank n - 1 < d): no eps offset needed.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 1.0
    value = diagnostics.frechet_distance(a, b)
    assert np.isfinite(value) and value > 32 * 0.9  # ~ ||mu_a - mu_b||^2 = 32 and more


def test_one_feature():
    a, b = np.array([[0.0], [2.0]]), np.array([[1.0], [5.0]])
    # mu 1 vs 3; var 2 vs 8: (1 - 3)^2 + (sqrt 2 - sqrt 8)^2 = 4 + 2.
    assert diagnostics.frechet_distance(a, b) == pytest.approx(6.0, rel=1e-12)


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.zeros((1, 3)), np.zeros((4, 3)), r"`features_a` to be a matrix .* at least 2"),
        (np.zeros((4, 3)), np.zeros((4, 2)), r"same feature dimension. Received: 3 and 2"),
        (np.zeros(4), np.zeros((4, 3)), r"Received: features_a of shape \(4,\)"),
        (np.full((4, 3), np.nan), np.zeros((4, 3)), r"`features_a` to be finite"),
    ],
)
def test_bad_features_raise(a, b, message):
    with pytest.raises(ValueError, match=message):
        diagnostics.frechet_distance(a, b)


def test_bad_moments_raise():
    with pytest.raises(ValueError, match=r"`cov_b` of shape \(2, 2\)"):
        diagnostics.frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
