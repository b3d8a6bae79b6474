"""log_normal and kl_normal against scipy: densities and numerical integration."""

import numpy as np
import pytest
from scipy import integrate
from scipy import stats

import keras_vae
from keras_vae.testing.backend import requires_float64


def test_log_normal_matches_scipy_and_broadcasts_samples():
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(3, 4)).astype("float32")
    scale = rng.uniform(0.05, 3.0, size=(3, 4)).astype("float32")
    z = rng.normal(size=(5, 3, 4)).astype("float32") * 2.0  # (k, batch, d) samples
    got = np.asarray(keras_vae.losses.log_normal(z, loc, scale))
    expected = stats.norm.logpdf(z, loc, scale).sum(-1)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "q, p",
    [
        ((0.3, 0.7), (-1.2, 1.9)),
        ((2.0, 0.1), (0.0, 1.0)),
        ((0.0, 1.0 + 1e-4), (0.0, 1.0)),  # nearly equal scales: the expm1 path
    ],
)
@requires_float64  # float64 arrays, a 1e-6 tolerance at a KL of 1e-8
def test_kl_normal_matches_numerical_integration(q, p):
    def integrand(z):
        return stats.norm.pdf(z, *q) * (stats.norm.logpdf(z, *q) - stats.norm.logpdf(z, *p))

    lo, hi = q[0] - 12 * q[1], q[0] + 12 * q[1]
    expected, _ = integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-12)
    # Two units with the same parameters: the sum over the last axis doubles it.
    q_arrays = tuple(np.full((1, 2), v, "float64") for v in q)
    p_arrays = tuple(np.full((1, 2), v, "float64") for v in p)
    got = float(np.asarray(keras_vae.losses.kl_normal(q_arrays, p_arrays))[0])
    np.testing.assert_allclose(got, 2 * expected, rtol=1e-6, atol=1e-12)
