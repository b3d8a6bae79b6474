"""Diagonal Gaussian observation model for continuous data."""

import math

import keras
from keras import ops

from keras_vae.likelihoods.likelihood import Likelihood
from keras_vae.utils import random

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="keras_vae")
class Gaussian(Likelihood):
    """Diagonal Gaussian likelihood with the mean from the decoder.

    ```none
    log p(x | z) = sum_d log N(x_d; mu_d, sigma_d^2),    mu = decoder(z)
    ```

    The scale is either fixed (`learn_scale=False`) or a learned per-dimension
    weight `log_scale` (log sigma, shape = the event shape, created when the
    layer is built), clamped to `[min_log_scale, max_log_scale]`.

    The models' `likelihood="gaussian"` is `Gaussian()`: sigma fixed at 1,

    ```none
    log p(x | z) = -||x - mu||^2 / 2 - (D / 2) log(2 pi)
    ```

    a squared error, whatever the data's scale: for data in [0, 1] this
    unit-variance noise is far too wide, and the log-likelihood of the
    model (`log_likelihood`) far below that of a learned scale. For a
    learned scale pass `likelihood=keras_vae.likelihoods.Gaussian(
    learn_scale=True)` (a per-dimension sigma trained with the model).

    The data may be any finite value (`support = None`) and are not binary
    (`binary = False`): models refuse `dynamic_binarization=True` with it.

    Args:
        scale: Positive float, the fixed scale or the learned scale's initial
            value. Defaults to `1.0`.
        learn_scale: Whether `sigma` is a trainable weight. Defaults to `False`.
        min_log_scale: Lower clamp of the learned log-scale.
        max_log_scale: Upper clamp of the learned log-scale.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> vae = keras_vae.models.VAE(  # continuous data, learned sigma
    ...     likelihood=keras_vae.likelihoods.Gaussian(learn_scale=True))
    >>> lik = keras_vae.likelihoods.Gaussian(scale=1.0)
    >>> lik.log_prob(np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32")).shape
    TensorShape([2])
    """

    def __init__(
        self,
        scale=1.0,
        learn_scale=False,
        min_log_scale=-7.0,
        max_log_scale=2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"Expected `scale` to be a positive float. Received: scale={scale!r}")
        self.scale = float(scale)
        self.learn_scale = bool(learn_scale)
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)

    def build(self, params_shape):
        if self.learn_scale:
            self.log_scale = self.add_weight(
                name="log_scale",
                shape=tuple(params_shape[1:]),
                initializer=keras.initializers.Constant(math.log(self.scale)),
                autocast=False,
            )

    def _scale(self):
        if not self.learn_scale:
            return ops.convert_to_tensor(self.scale, "float32")
        log_scale = ops.clip(
            ops.cast(self.log_scale, "float32"),
            self.min_log_scale,
            self.max_log_scale,
        )
        return ops.exp(log_scale)

    def log_prob(self, x, params):
        if not self.built:
            self.build(tuple(x.shape))
        return super().log_prob(x, params)

    def _log_prob_elementwise(self, x, params):
        # log N(x; mu, sigma^2) = -((x - mu) / sigma)^2 / 2 - log sigma - log(2 pi) / 2,
        # `keras_vae.losses.log_normal` per element (TFP's `Normal.log_prob` up to rounding).
        scale = self._scale()
        u = (x - params) / scale
        return -0.5 * ops.square(u) - ops.log(scale) - _HALF_LOG_TWO_PI

    def mean(self, params):
        if not self.built:
            self.build(tuple(params.shape))
        return ops.cast(params, self.compute_dtype)

    def sample(self, params, seed=None):
        params = ops.cast(params, self.compute_dtype)
        noise = random.normal(ops.shape(params), seed=seed or self.seed_generator)
        return params + ops.cast(self._scale(), params.dtype) * noise

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "learn_scale": self.learn_scale,
            "min_log_scale": self.min_log_scale,
            "max_log_scale": self.max_log_scale,
        }
