"""reconstruction_probability against its closed form on a linear-Gaussian VAE.

With p(x | z) = N(W z + b, s^2 I) and a Gaussian q(z | x) = N(m, diag v),

    E_q p(x | z) = N(x; W m + b, W diag(v) W^T + s^2 I),

so log RP(x) with many draws must approach this log-density (from below:
the log of a mean is a lower bound in expectation, by Jensen).
"""

import numpy as np
import pytest

import keras_vae
from keras_vae.testing.linear_gaussian import linear_gaussian_vae

LATENT, DATA, SCALE = 2, 5, 0.5


def _closed_form(model, x, loc, var):
    """log E_q N(x; W z + b, s^2 I) per row, float64, with q = N(loc, diag var)."""
    dense = model.decoder.layers[0]
    w = np.asarray(dense.kernel, "float64").T  # (D, d)
    b = np.asarray(dense.bias, "float64")
    out = []
    for row, m, v in zip(x.astype("float64"), loc, var):
        cov = w @ np.diag(v) @ w.T + SCALE**2 * np.eye(DATA)
        diff = row - (w @ m + b)
        _, log_det = np.linalg.slogdet(cov)
        maha = diff @ np.linalg.solve(cov, diff)
        out.append(-0.5 * (maha + log_det + DATA * np.log(2 * np.pi)))
    return np.array(out)


@pytest.mark.parametrize("posterior", ["exact", "perturbed"])
def test_matches_the_gaussian_closed_form(posterior):
    model, _ = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3, posterior=posterior)
    x = np.random.default_rng(0).normal(size=(6, DATA)).astype("float32")
    loc, scale = (np.asarray(t, "float64") for t in model.encode(x))
    want = _closed_form(model, x, loc, scale**2)
    got = keras_vae.diagnostics.reconstruction_probability(
        model, x, num_samples=20000, batch_size=6, chunk_size=20000
    )
    assert got.shape == (6,) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=0.02)


def test_exact_posterior_is_not_the_marginal_likelihood():
    # log RP(x) = log E_{p(z|x)} p(x|z) >= log p(x): a different score.
    model, exact_log_px = linear_gaussian_vae(LATENT, DATA, SCALE, seed=4)
    x = np.random.default_rng(1).normal(size=(4, DATA)).astype("float32")
    log_rp = keras_vae.diagnostics.reconstruction_probability(
        model, x, num_samples=5000, chunk_size=5000
    )
    assert np.all(log_rp > exact_log_px(x))


def test_max_examples_and_refusals():
    model, _ = linear_gaussian_vae(LATENT, DATA, SCALE, seed=5)
    x = np.zeros((7, DATA), "float32")
    got = keras_vae.diagnostics.reconstruction_probability(
        model, x, num_samples=3, batch_size=5, max_examples=5
    )
    assert got.shape == (5,) and np.isfinite(got).all()
    with pytest.raises(ValueError, match="`num_samples`"):
        keras_vae.diagnostics.reconstruction_probability(model, x, num_samples=0)
    with pytest.raises(ValueError, match="keras_vae.models.VAE"):
        keras_vae.diagnostics.reconstruction_probability(object(), x)
