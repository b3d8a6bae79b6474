"""Diagonal Gaussian observation model for continuous data."""

import math

import keras
from keras import ops
from tensorflow_probability import distributions as tfd

from keras_vae.likelihoods.likelihood import Likelihood
from keras_vae.utils import random


@keras.saving.register_keras_serializable(package="keras_vae")
class Gaussian(Likelihood):
    """Diagonal Gaussian likelihood with the mean from the decoder.

    ```none
    log p(x | z) = sum_d log N(x_d; mu_d, sigma_d^2),    mu = decoder(z)
    ```

    The scale is either fixed (`learn_scale=False`) or a learned per-dimension
    weight `log_sigma` (shape = the event shape, created at the first call),
    clamped to `[min_log_scale, max_log_scale]`.

    Args:
        scale: Positive float, the fixed scale or the learned scale's initial
            value. Defaults to `1.0`.
        learn_scale: Whether `sigma` is a trainable weight. Defaults to `False`.
        min_log_scale: Lower clamp of the learned log-scale.
        max_log_scale: Upper clamp of the learned log-scale.
        **kwargs: Base layer keyword arguments.

    Example:

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
        return tfd.Normal(params, self._scale()).log_prob(x)

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
