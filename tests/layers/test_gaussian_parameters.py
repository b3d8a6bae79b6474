"""GaussianParameters: loc/scale against numpy, and the log-variance clamp."""

import math

import numpy as np
import pytest

import keras_vae
from keras_vae import testing


def _oracle(layer, x, min_log_var=-6.0, max_log_var=2.0):
    kernel = layer.kernel.numpy().astype("float64")
    bias = layer.bias.numpy().astype("float64")
    y = np.asarray(x, "float64") @ kernel + bias
    u = layer.units
    loc, log_var = y[..., :u], y[..., u:]
    return loc, np.exp(0.5 * np.clip(log_var, min_log_var, max_log_var))


class GaussianParametersTest(testing.TestCase):
    def test_loc_and_scale_match_numpy(self):
        head = keras_vae.layers.GaussianParameters(3, kernel_initializer="glorot_uniform")
        x = np.random.RandomState(0).normal(size=(5, 4)).astype("float32")
        head.build((None, 4))
        head.bias.assign(np.random.RandomState(1).normal(size=(6,)).astype("float32"))
        loc, scale = head(x)
        want_loc, want_scale = _oracle(head, x)
        self.assertAllClose(loc, want_loc, rtol=1e-5, atol=1e-6)
        self.assertAllClose(scale, want_scale, rtol=1e-5, atol=1e-6)

    def test_default_clamp_bounds_scale(self):
        # Huge features push every log-variance far past the clamp on both sides.
        head = keras_vae.layers.GaussianParameters(8)
        x = 1000.0 * np.random.RandomState(2).normal(size=(64, 5)).astype("float32")
        loc, scale = head(x)
        scale = np.asarray(scale)
        lo, hi = math.exp(-3.0), math.exp(1.0)  # exp(-6 / 2), exp(2 / 2)
        self.assertTrue(np.all(scale >= lo * (1 - 1e-6)), scale.min())
        self.assertTrue(np.all(scale <= hi * (1 + 1e-6)), scale.max())
        # Both bounds are reached, so the clamp (not luck) keeps scale inside.
        self.assertAllClose(scale.min(), lo, rtol=1e-6)
        self.assertAllClose(scale.max(), hi, rtol=1e-6)
        # loc is not clamped.
        self.assertGreater(np.abs(np.asarray(loc)).max(), 100.0)

    def test_custom_clamp(self):
        head = keras_vae.layers.GaussianParameters(4, min_log_var=-2.0, max_log_var=0.5)
        x = 1000.0 * np.random.RandomState(3).normal(size=(64, 5)).astype("float32")
        _, scale = head(x)
        want = _oracle(head, x, -2.0, 0.5)[1]
        self.assertAllClose(scale, want, rtol=1e-6)
        self.assertAllClose(np.asarray(scale).min(), math.exp(-1.0), rtol=1e-6)
        self.assertAllClose(np.asarray(scale).max(), math.exp(0.25), rtol=1e-6)

    def test_layer_contract_with_tuple_output(self):
        self.run_layer_test(
            keras_vae.layers.GaussianParameters,
            {"units": 2},
            input_shape=(3, 5),
            expected_output_shape=((3, 2), (3, 2)),
        )


@pytest.mark.parametrize("units", [0, -1, 1.5])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match=r"Expected `units` to be a positive integer"):
        keras_vae.layers.GaussianParameters(units)


def test_inverted_clamp_raises():
    with pytest.raises(ValueError, match="min_log_var < max_log_var.*min_log_var=2"):
        keras_vae.layers.GaussianParameters(2, min_log_var=2.0, max_log_var=-1.0)
