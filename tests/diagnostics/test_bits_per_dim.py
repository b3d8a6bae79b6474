"""Bits per dimension of `diagnostics.log_likelihood` and `callbacks.LogLikelihood`.

The oracle is the linear-Gaussian model's exact log p(x) = log N(x; b, W W^T + s^2 I)
(scipy, from the decoder's weights) divided by D ln 2.
"""

import math

import numpy as np
import pytest
from scipy import stats

from keras_vae import diagnostics
from keras_vae.callbacks import LogLikelihood
from keras_vae.testing.linear_gaussian import linear_gaussian_vae

LATENT, DATA, SCALE = 3, 6, 0.5


@pytest.fixture(scope="module")
def exact():
    model, _ = linear_gaussian_vae(LATENT, DATA, SCALE, seed=3)
    dense = model.decoder.layers[0]
    w = np.asarray(dense.kernel, "float64").T
    b = np.asarray(dense.bias, "float64")
    rng = np.random.default_rng(10)
    x = rng.multivariate_normal(b, w @ w.T + SCALE**2 * np.eye(DATA), size=50).astype("float32")
    oracle = stats.multivariate_normal(b, w @ w.T + SCALE**2 * np.eye(DATA)).logpdf(
        x.astype("float64")
    )
    return model, x, oracle


def test_bits_per_dim_is_the_closed_form_over_d_ln_2(exact):
    model, x, oracle = exact
    result = diagnostics.log_likelihood(model, x, num_importance_samples=5, batch_size=20)
    assert result.num_dimensions == DATA
    assert isinstance(result.bits_per_dim, float)
    # q(z | x) = p(z | x): every importance weight is p(x), so the estimate is exact.
    want = -np.mean(oracle) / (DATA * math.log(2.0))
    assert result.bits_per_dim == pytest.approx(want, abs=1e-4 / DATA)
    assert result.bits_per_dim == pytest.approx(result.nll / (DATA * math.log(2.0)), rel=1e-12)


def test_num_dimensions_is_the_size_of_one_example():
    model, _ = linear_gaussian_vae(2, 6, 0.5, seed=0)
    result = diagnostics.log_likelihood(model, np.zeros((4, 6), "float32"), 2)
    assert result.num_dimensions == 6
    # An image-shaped example counts every pixel (what PixelCNN.bits_per_dim divides by).
    assert result._fields[-2:] == ("bits_per_dim", "num_dimensions")


def test_callback_logs_bits_per_dim_of_the_same_estimate(exact):
    model, x, _ = exact
    model.compile(optimizer="sgd", jit_compile=False)
    callback = LogLikelihood(x, num_importance_samples=3, max_examples=20)
    logs = {}
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, logs)
    assert logs["val_bits_per_dim"] == pytest.approx(
        -logs["val_log_likelihood"] / (DATA * math.log(2.0)), rel=1e-12
    )


def test_callback_without_bits_per_dim(exact):
    model, x, _ = exact
    callback = LogLikelihood(x, num_importance_samples=2, max_examples=5, bits_per_dim_name=None)
    logs = {}
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, logs)
    assert set(logs) == {"val_log_likelihood"}
    assert callback.get_config()["bits_per_dim_name"] is None


@pytest.mark.parametrize("bad", ["", 3])
def test_callback_rejects_a_bad_bits_per_dim_name(bad):
    with pytest.raises(ValueError, match=r"`bits_per_dim_name` to be a non-empty string or None"):
        LogLikelihood(np.zeros((2, 6), "float32"), bits_per_dim_name=bad)
