"""The standard normal prior N(0, I)."""

import keras
from keras import ops
from tensorflow_probability import distributions as tfd

from keras_vae.priors.prior import Prior
from keras_vae.utils import random


@keras.saving.register_keras_serializable(package="keras_vae")
class StandardNormal(Prior):
    """Standard normal prior p(z) = N(0, I), with a closed-form KL.

    ```none
    log p(z)            = -1/2 sum_d (z_d^2 + log 2 pi)
    KL(N(m, s^2) || p)  =  1/2 sum_d (m_d^2 + s_d^2 - 1) - sum_d log s_d
    ```

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
        return ops.sum(tfd.Normal(0.0, 1.0).log_prob(z), axis=-1)

    def sample(self, num_samples):
        self.check_built()
        return random.normal((num_samples, self.latent_dim), seed=self.seed_generator)

    def kl_divergence(self, loc, scale):
        q = tfd.Normal(ops.cast(loc, "float32"), ops.cast(scale, "float32"))
        return ops.sum(tfd.kl_divergence(q, tfd.Normal(0.0, 1.0)), axis=-1)
