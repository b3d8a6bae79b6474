"""A learnable mixture of diagonal Gaussians prior."""

import keras
from keras import ops

from keras_vae.priors.gaussian_mixture import diagonal_gaussian_mixture_log_prob
from keras_vae.priors.prior import Prior
from keras_vae.utils import random
from keras_vae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class MixtureOfGaussians(Prior):
    """Learnable K-component mixture of diagonal Gaussians.

    ```none
    p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2)),   pi = softmax(logits)
    log p(z) = logsumexp_k [ log pi_k + log N(z; mu_k, sigma_k^2) ]
    ```

    Means start at N(0, 1) draws, scales at 1 and weights uniform; all three
    are trained with the model. Log-scales are clamped to
    `[min_log_scale, max_log_scale]` so components cannot collapse.

    Args:
        num_components: Positive integer K.
        latent_dim: Optional latent size; set by the model if `None`.
        learn_weights: Whether the mixture weights are learned (`True`,
            default) or fixed uniform.
        min_log_scale: Lower clamp of the component log-scales.
        max_log_scale: Upper clamp of the component log-scales.
        seed: Optional integer seed of `sample` and of the mean initializer.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> prior = keras_vae.priors.MixtureOfGaussians(10, latent_dim=2)
    >>> prior.sample(4).shape
    TensorShape([4, 2])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120), Sec. 3.
    """

    def __init__(
        self,
        num_components,
        latent_dim=None,
        learn_weights=True,
        min_log_scale=-3.0,
        max_log_scale=2.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(latent_dim=latent_dim, seed=seed, **kwargs)
        self.num_components = check_positive_int(num_components, "num_components")
        self.learn_weights = bool(learn_weights)
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)

    def build_prior(self):
        k, d = self.num_components, self.latent_dim
        self.means = self.add_weight(
            name="means",
            shape=(k, d),
            initializer=keras.initializers.RandomNormal(seed=self.seed),
            autocast=False,
        )
        self.log_scales = self.add_weight(
            name="log_scales", shape=(k, d), initializer="zeros", autocast=False
        )
        self.logits = self.add_weight(
            name="logits",
            shape=(k,),
            initializer="zeros",
            trainable=self.learn_weights,
            autocast=False,
        )

    def _components(self):
        log_scales = ops.clip(
            ops.cast(self.log_scales, "float32"), self.min_log_scale, self.max_log_scale
        )
        return ops.cast(self.means, "float32"), ops.exp(log_scales)

    def log_prob(self, z):
        self.check_built()
        means, scales = self._components()
        log_weights = ops.log_softmax(ops.cast(self.logits, "float32"))
        return diagonal_gaussian_mixture_log_prob(z, means, scales, log_weights)

    def sample(self, num_samples):
        self.check_built()
        means, scales = self._components()
        logits = ops.expand_dims(ops.cast(self.logits, "float32"), 0)
        idx = random.categorical(logits, num_samples, seed=self.seed_generator)[0]
        eps = random.normal((num_samples, self.latent_dim), seed=self.seed_generator)
        return ops.take(means, idx, axis=0) + ops.take(scales, idx, axis=0) * eps

    def get_config(self):
        return {
            **super().get_config(),
            "num_components": self.num_components,
            "learn_weights": self.learn_weights,
            "min_log_scale": self.min_log_scale,
            "max_log_scale": self.max_log_scale,
        }
