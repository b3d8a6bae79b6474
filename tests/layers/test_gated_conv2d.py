"""GatedConv2D against a numpy convolution oracle built from its fused kernel."""

import math

import numpy as np
import pytest

import keras_vae
from keras_vae import testing


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _conv(x, kernel, strides, padding):
    """Cross-correlation with TensorFlow's padding rules, by explicit loops."""
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    n, height, width, _ = x.shape
    if padding == "same":
        out_h, out_w = math.ceil(height / sh), math.ceil(width / sw)
        pad_h = max((out_h - 1) * sh + kh - height, 0)
        pad_w = max((out_w - 1) * sw + kw - width, 0)
        # TensorFlow puts the odd extra padding row/column after the data.
        x = np.pad(
            x,
            ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
        )
    else:
        out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    y = np.zeros((n, out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            y[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return y


def _oracle(layer, x):
    """conv(x, W) + b times sigmoid(conv(x, V) + c), W|V and b|c split by hand."""
    kernel = np.asarray(layer.kernel.numpy(), "float64")
    bias = np.asarray(layer.bias.numpy(), "float64")
    f = layer.filters
    x = np.asarray(x, "float64")
    linear = _conv(x, kernel[..., :f], layer.strides, layer.padding) + bias[:f]
    gate = _conv(x, kernel[..., f:], layer.strides, layer.padding) + bias[f:]
    return linear * _sigmoid(gate)


class GatedConv2DTest(testing.TestCase):
    def _check_against_oracle(self, x_shape, expected_shape, **kwargs):
        layer = keras_vae.layers.GatedConv2D(bias_initializer="random_normal", **kwargs)
        x = np.random.RandomState(0).normal(size=x_shape).astype("float32")
        y = layer(x)
        self.assertEqual(tuple(y.shape), expected_shape)
        self.assertEqual(tuple(layer.compute_output_shape(x_shape)), expected_shape)
        self.assertAllClose(y, _oracle(layer, x), rtol=1e-4, atol=1e-5)

    def test_same_padding_matches_numpy(self):
        self._check_against_oracle((2, 6, 5, 3), (2, 6, 5, 4), filters=4, kernel_size=3)

    def test_strides_2_match_numpy(self):
        # Odd sizes: "same" pads unevenly, and 7 -> ceil(7 / 2) = 4.
        self._check_against_oracle((2, 7, 8, 2), (2, 4, 4, 3), filters=3, kernel_size=3, strides=2)

    def test_valid_padding_and_rectangular_kernel_match_numpy(self):
        self._check_against_oracle(
            (1, 7, 6, 2),
            (1, 3, 5, 2),
            filters=2,
            kernel_size=(3, 2),
            strides=(2, 1),
            padding="valid",
        )

    def test_gate_halves_are_not_swapped(self):
        # Linear half = 2, gate half = 0 for every filter: 2 * sigmoid(0) = 1.
        layer = keras_vae.layers.GatedConv2D(2, 3, kernel_initializer="zeros")
        layer.build((None, 4, 4, 1))
        x = np.ones((1, 4, 4, 1), "float32")
        layer.bias.assign(np.array([2.0, 2.0, 0.0, 0.0], "float32"))
        self.assertAllClose(layer(x), np.ones((1, 4, 4, 2)))
        layer.bias.assign(np.array([0.0, 0.0, 2.0, 2.0], "float32"))
        self.assertAllClose(layer(x), np.zeros((1, 4, 4, 2)))

    def test_weights_have_fused_shapes(self):
        layer = keras_vae.layers.GatedConv2D(6, (5, 3))
        layer.build((None, 8, 8, 2))
        self.assertEqual(tuple(layer.kernel.shape), (5, 3, 2, 12))
        self.assertEqual(tuple(layer.bias.shape), (12,))

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.layers.GatedConv2D,
            {
                "filters": 3,
                "kernel_size": 3,
                "strides": 2,
                "bias_initializer": "random_normal",
            },
            input_shape=(2, 6, 6, 2),
            expected_output_shape=(2, 3, 3, 3),
        )

    def test_undefined_channel_axis_raises(self):
        layer = keras_vae.layers.GatedConv2D(3, 3)
        with pytest.raises(ValueError, match="channel axis"):
            layer.build((None, 4, 4, None))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "Received: filters=0"),
        ({"kernel_size": (3, 3, 3)}, "Received: kernel_size=\\(3, 3, 3\\)"),
        ({"kernel_size": 0}, "Received: kernel_size=0"),
        ({"strides": 1.5}, "Received: strides=1.5"),
        ({"padding": "causal"}, "Received: padding='causal'"),
    ],
)
def test_bad_arguments_raise_with_received_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_vae.layers.GatedConv2D(**{"filters": 2, "kernel_size": 3, **kwargs})
