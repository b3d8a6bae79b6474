"""GatedDense layer (Dauphin et al. 2017; used by Tomczak & Welling 2018)."""

import keras
from keras import ops

from keras_vae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class GatedDense(keras.layers.Layer):
    """Gated fully connected layer.

    ```none
    h = (W x + b) * sigmoid(V x + c)
    ```

    The two projections are computed by one matrix product with a kernel of
    width `2 * units` and split, which is faster on CPU than two products.

    Args:
        units: Positive integer, dimension of the output.
        activation: Optional activation applied to the linear branch
            `W x + b` before gating. Defaults to `None` (identity), as in the
            VampPrior code.
        kernel_initializer: Initializer of the fused kernel. Defaults to
            `"he_normal"` as in the VampPrior code.
        bias_initializer: Initializer of the fused bias.
        kernel_regularizer: Optional regularizer of the kernel.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(..., input_dim)`.

    Output shape:
        `(..., units)`.

    Example:

    >>> layer = keras_vae.layers.GatedDense(300)
    >>> layer(np.zeros((2, 784), "float32")).shape
    TensorShape([2, 300])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
        - [Dauphin et al., 2017](https://arxiv.org/abs/1612.08083)
    """

    def __init__(
        self,
        units,
        activation=None,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last axis of the input of `GatedDense` to be "
                f"defined. Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, 2 * self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(2 * self.units,), initializer=self.bias_initializer
        )

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel) + self.bias
        linear, gate = ops.split(y, 2, axis=-1)
        if self.activation is not None:
            linear = self.activation(linear)
        return linear * ops.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
