"""GatedDense against a numpy oracle built from its fused kernel."""

import numpy as np
import pytest

import keras_vae
from keras_vae import testing


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _oracle(layer, x, activation=lambda a: a):
    """(x W + b) * sigmoid(x V + c) with W|V and b|c split from the fused weights."""
    kernel = np.asarray(layer.kernel.numpy(), dtype="float64")
    bias = np.asarray(layer.bias.numpy(), dtype="float64")
    u = layer.units
    w, v = kernel[:, :u], kernel[:, u:]
    b, c = bias[:u], bias[u:]
    x = np.asarray(x, dtype="float64")
    return activation(x @ w + b) * _sigmoid(x @ v + c)


class GatedDenseTest(testing.TestCase):
    def test_output_matches_numpy(self):
        layer = keras_vae.layers.GatedDense(4, bias_initializer="random_normal")
        x = np.random.RandomState(0).normal(size=(3, 5)).astype("float32")
        y = layer(x)
        # The bias is random, so a layer that ignored either half would fail.
        self.assertGreater(np.abs(layer.bias.numpy()).min(), 0.0)
        self.assertAllClose(y, _oracle(layer, x), rtol=1e-5, atol=1e-6)

    def test_output_matches_numpy_with_activation_and_extra_axes(self):
        layer = keras_vae.layers.GatedDense(3, activation="tanh", bias_initializer="random_normal")
        x = np.random.RandomState(1).normal(size=(2, 4, 5)).astype("float32")
        y = layer(x)
        self.assertEqual(tuple(y.shape), (2, 4, 3))
        self.assertAllClose(y, _oracle(layer, x, np.tanh), rtol=1e-5, atol=1e-6)

    def test_gate_halves_are_not_swapped(self):
        # Linear half = 2, gate half = 0 for every unit: output 2 * sigmoid(0) = 1.
        layer = keras_vae.layers.GatedDense(2, kernel_initializer="zeros")
        layer.build((None, 3))
        layer.bias.assign(np.array([2.0, 2.0, 0.0, 0.0], "float32"))
        self.assertAllClose(layer(np.ones((1, 3), "float32")), np.ones((1, 2)))
        layer.bias.assign(np.array([0.0, 0.0, 2.0, 2.0], "float32"))
        self.assertAllClose(layer(np.ones((1, 3), "float32")), np.zeros((1, 2)))

    def test_weights_have_fused_shapes(self):
        layer = keras_vae.layers.GatedDense(6)
        layer.build((None, 5))
        self.assertEqual(tuple(layer.kernel.shape), (5, 12))
        self.assertEqual(tuple(layer.bias.shape), (12,))

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.layers.GatedDense,
            {"units": 3, "bias_initializer": "random_normal"},
            input_shape=(4, 6),
            expected_output_shape=(4, 3),
        )

    def test_undefined_last_axis_raises(self):
        layer = keras_vae.layers.GatedDense(3)
        with pytest.raises(ValueError, match="last axis"):
            layer.build((None, None))


@pytest.mark.parametrize("units", [0, -2, 2.5, True, "3", None])
def test_bad_units_raise_with_received_value(units):
    with pytest.raises(ValueError) as info:
        keras_vae.layers.GatedDense(units)
    message = str(info.value)
    assert "Expected `units` to be a positive integer" in message
    assert f"Received: units={units!r}" in message
