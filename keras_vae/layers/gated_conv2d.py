"""GatedConv2D layer (Dauphin et al. 2017; used by Tomczak & Welling 2018)."""

import math

import keras
from keras import ops

from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int


def _pair(value, name):
    """An int or a pair of ints as a tuple of two positive ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(
                f"Expected `{name}` to be an integer or a pair of integers. "
                f"Received: {name}={value!r}"
            )
        return tuple(check_positive_int(v, name) for v in value)
    value = check_positive_int(value, name)
    return (value, value)


@keras.saving.register_keras_serializable(package="keras_vae")
class GatedConv2D(keras.layers.Layer):
    """Gated 2D convolution (channels last).

    ```none
    h = (W * x + b) * sigmoid(V * x + c)
    ```

    where `*` is a 2D convolution (cross-correlation, as in Keras) and
    `W`, `V` have `filters` output channels each. There is no activation on
    the linear branch, as in the VampPrior code. The two convolutions are
    computed by one convolution with `2 * filters` output channels whose
    result is split in two: the first half is the linear branch, the second
    the gate.

    Args:
        filters: Positive integer, number of output channels.
        kernel_size: Integer or pair of integers, height and width of the
            convolution window.
        strides: Integer or pair of integers, strides of the convolution.
            Defaults to `1`.
        padding: `"same"` (the default, output size `ceil(n / stride)`) or
            `"valid"`.
        kernel_initializer: Initializer of the fused kernel. Defaults to
            `"glorot_uniform"`, the Keras `Conv2D` default (the VampPrior
            code He-initializes only its dense layers).
        bias_initializer: Initializer of the fused bias.
        kernel_regularizer: Optional regularizer of the kernel.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, new_height, new_width, filters)`.

    Example:

    >>> layer = keras_vae.layers.GatedConv2D(32, 3, strides=2)
    >>> layer(np.zeros((2, 28, 28, 1), "float32")).shape
    TensorShape([2, 14, 14, 32])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
        - [Dauphin et al., 2017](https://arxiv.org/abs/1612.08083)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = check_one_of(padding, "padding", {"same", "valid"})
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "Expected the channel axis of the input of `GatedConv2D` to be "
                f"defined. Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (channels, 2 * self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(2 * self.filters,), initializer=self.bias_initializer
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        y = ops.conv(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
        )
        linear, gate = ops.split(y + self.bias, 2, axis=-1)
        return linear * ops.sigmoid(gate)

    def _output_size(self, size, axis):
        if size is None:
            return None
        if self.padding == "valid":
            size = size - self.kernel_size[axis] + 1
        return math.ceil(size / self.strides[axis])

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            self._output_size(input_shape[1], 0),
            self._output_size(input_shape[2], 1),
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
