"""The standard normal prior N(0, I)."""

import math

import keras
from keras import ops

from keras_vae.priors.prior import Prior
from keras_vae.utils import random

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="keras_vae")
class StandardNormal(Prior):
    """Standard normal prior p(z) = N(0, I), with a closed-form KL.

    ```none
    log p(z)            = -1/2 sum_d (z_d^2 + log 2 pi)
    KL(N(m, s^2) || p)  =  1/2 sum_d (m_d^2 + s_d^2 - 1) - sum_d log s_d
    ```

    `s^2 - 1` is computed as `expm1(2 log s)`, exact for a posterior close
    to the prior (s near 1), as `keras_vae.losses.kl_normal` does.

    Args:
        latent_dim: Optional latent size; set by the model if `None`.
        seed: Optional integer seed of `sample`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> prior = keras_vae.priors.StandardNormal(latent_dim=2)
    >>> float(prior.log_prob(np.zeros((1, 2), "float32"))[0])
    -1.837877

    Reference:
        - [Kingma & Welling, 2014](https://arxiv.org/abs/1312.6114)
    """

    has_analytic_kl = True

    def log_prob(self, z):
        z = ops.cast(z, "float32")
        return ops.sum(-0.5 * ops.square(z) - _HALF_LOG_TWO_PI, axis=-1)

    def sample(self, num_samples):
        self.check_built()
        return random.normal((num_samples, self.latent_dim), seed=self.seed_generator)

    def kl_divergence(self, loc, scale):
        loc = ops.cast(loc, "float32")
        log_scale = ops.log(ops.cast(scale, "float32"))
        kl = 0.5 * ops.square(loc) + 0.5 * ops.expm1(2.0 * log_scale) - log_scale
        return ops.sum(kl, axis=-1)
