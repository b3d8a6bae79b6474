"""GaussianParameters: a dense head producing a diagonal Gaussian."""

import keras
from keras import ops

from keras_vae.utils.precision import working_dtype
from keras_vae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class GaussianParameters(keras.layers.Layer):
    """Dense head mapping features to the location and scale of a Gaussian.

    ```none
    loc     = W_mu h + b_mu
    log_var = clip(W_v h + b_v, min_log_var, max_log_var)   # Hardtanh(-6, 2)
    scale   = exp(log_var / 2)
    ```

    Clamping the log-variance as the VampPrior code does keeps the posterior
    from collapsing to a point or exploding early in training.

    Args:
        units: Positive integer, the latent dimension.
        min_log_var: Lower clamp of the log-variance. Defaults to `-6.0`.
        max_log_var: Upper clamp of the log-variance. Defaults to `2.0`.
        kernel_initializer: Initializer of both kernels. Defaults to
            `"he_normal"`.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        inputs: Features of shape `(..., features)`; extra axes are flattened
            by the caller (use `keras.layers.Flatten` first).

    Returns:
        A tuple `(loc, scale)`, both of shape `(..., units)` and dtype
        float32 (float64 for a float64 layer): under a mixed precision
        policy the matmul runs in the compute dtype, the clamp, the `exp`
        and the outputs, parameters of a density, in float32.

    Example:

    >>> head = keras_vae.layers.GaussianParameters(40)
    >>> loc, scale = head(np.zeros((2, 300), "float32"))
    >>> loc.shape, scale.shape
    (TensorShape([2, 40]), TensorShape([2, 40]))

    Reference:
        - [Kingma & Welling, 2014](https://arxiv.org/abs/1312.6114)
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
    """

    def __init__(
        self,
        units,
        min_log_var=-6.0,
        max_log_var=2.0,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        if not min_log_var < max_log_var:
            raise ValueError(
                "Expected `min_log_var < max_log_var`. Received: "
                f"min_log_var={min_log_var}, max_log_var={max_log_var}"
            )
        self.min_log_var = float(min_log_var)
        self.max_log_var = float(max_log_var)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        # One fused kernel for [loc, log_var]: a single matmul on the hot path.
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, 2 * self.units),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(2 * self.units,), initializer="zeros")

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel) + self.bias
        y = ops.cast(y, working_dtype(self))
        loc, log_var = ops.split(y, 2, axis=-1)
        log_var = ops.clip(log_var, self.min_log_var, self.max_log_var)
        return loc, ops.exp(0.5 * log_var)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.units,)
        return shape, shape

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(tuple(inputs.shape))[0]
        dtype = working_dtype(self)
        return keras.KerasTensor(shape, dtype=dtype), keras.KerasTensor(shape, dtype=dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "min_log_var": self.min_log_var,
            "max_log_var": self.max_log_var,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
