"""HierarchicalPrior: a learned continuous mixture p(z) = ∫ p(z|ζ) p(ζ) dζ."""

import math

import keras
from keras import ops

from keras_vae.layers.gated_dense import GatedDense
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.losses.gaussian import log_normal
from keras_vae.priors.prior import Prior
from keras_vae.utils import random
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_widths


@keras.saving.register_keras_serializable(package="keras_vae")
class HierarchicalPrior(Prior):
    """The learned hierarchical prior of the VHP-VAE (Klushyn et al., 2019).

    ```none
    p(z)    = ∫ p_Θ(z | ζ) p(ζ) dζ,   p(ζ) = N(0, I),
              p_Θ(z | ζ) = N(z; μ_Θ(ζ), diag σ_Θ(ζ)^2)
    F(z)    = log (1/K) Σ_k p_Θ(z | ζ_k) p(ζ_k) / q_Φ(ζ_k | z),
              ζ_k ~ q_Φ(ζ | z) = N(ζ; μ_Φ(z), diag σ_Φ(z)^2)
    E[F(z)] <= log p(z), rising to it as K grows (the IWAE bound of p(z))
    ```

    `log_prob(z)` returns one draw of F(z), reparameterized, so maximizing
    it over the model's posterior samples fits p(z) to the aggregated
    posterior (the empirical-Bayes prior) and trains the inference network
    q_Φ(ζ | z) at the same time. exp(F(z)) is an unbiased estimate of p(z),
    so a model's importance-sampled log-likelihood stays a stochastic lower
    bound when it uses F in place of log p(z). Both networks are gated MLPs
    (`GatedDense` layers) with a `GaussianParameters` head, whose clamped
    log-variance keeps the mixture components from collapsing.

    Args:
        latent_dim: Optional size of z; set by the model if `None`.
        zeta_dim: Optional size of ζ. Defaults to `latent_dim`.
        hidden_units: Widths of the hidden layers of both networks. Defaults
            to `(256, 256)`; `()` makes both linear-Gaussian.
        num_importance_samples: Positive integer K, importance samples of ζ
            per z. Defaults to 10.
        min_log_var: Lower clamp of both networks' log-variances (-6).
        max_log_var: Upper clamp of both networks' log-variances (2).
        seed: Optional integer seed of the ζ draws and of `sample`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> prior = keras_vae.priors.HierarchicalPrior(
    ...     latent_dim=2, num_importance_samples=5)
    >>> prior.log_prob(np.zeros((3, 2), "float32")).shape
    TensorShape([3])
    >>> prior.sample(4).shape
    TensorShape([4, 2])

    Reference:
        - [Klushyn et al., 2019](https://arxiv.org/abs/1905.04982), Sec. 2:
          the hierarchical prior and its importance-weighted bound F (the
          poster's equation for F is the formula above).
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """

    def __init__(
        self,
        latent_dim=None,
        zeta_dim=None,
        hidden_units=(256, 256),
        num_importance_samples=10,
        min_log_var=-6.0,
        max_log_var=2.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(latent_dim=latent_dim, seed=seed, **kwargs)
        self.zeta_dim = check_optional_positive_int(zeta_dim, "zeta_dim")
        linear = isinstance(hidden_units, (list, tuple)) and len(hidden_units) == 0
        self.hidden_units = () if linear else check_widths(hidden_units, "hidden_units")
        self.num_importance_samples = check_positive_int(
            num_importance_samples, "num_importance_samples"
        )
        self.min_log_var = float(min_log_var)
        self.max_log_var = float(max_log_var)

    def build_prior(self):
        if self.zeta_dim is None:
            self.zeta_dim = self.latent_dim
        head = dict(min_log_var=self.min_log_var, max_log_var=self.max_log_var)
        self.conditional_trunk = self._trunk("conditional_trunk")
        self.conditional_head = GaussianParameters(self.latent_dim, name="conditional", **head)
        self.inference_trunk = self._trunk("inference_trunk")
        self.inference_head = GaussianParameters(self.zeta_dim, name="inference", **head)
        for trunk, head_layer, dim in (
            (self.conditional_trunk, self.conditional_head, self.zeta_dim),
            (self.inference_trunk, self.inference_head, self.latent_dim),
        ):
            trunk.build((None, dim))
            head_layer.build(trunk.compute_output_shape((None, dim)))

    def _trunk(self, name):
        if not self.hidden_units:
            # No hidden layer: the Gaussian heads are linear in their input.
            return keras.layers.Identity(name=name)
        return keras.Sequential([GatedDense(u) for u in self.hidden_units], name=name)

    def conditional(self, zeta):
        """Parameters `(loc, scale)` of p_Θ(z | ζ) for ζ of shape `(n, zeta_dim)`."""
        return self.conditional_head(self.conditional_trunk(zeta))

    def inference(self, z):
        """Parameters `(loc, scale)` of q_Φ(ζ | z) for z of shape `(n, latent_dim)`."""
        return self.inference_head(self.inference_trunk(z))

    def log_weights(self, z, num_importance_samples=None):
        """log p_Θ(z, ζ_k) - log q_Φ(ζ_k | z) for K draws ζ_k ~ q_Φ(ζ | z).

        Args:
            z: Latents of shape `(..., latent_dim)`.
            num_importance_samples: K; defaults to `self.num_importance_samples`.

        Returns:
            Shape `(K,) + z.shape[:-1]`.
        """
        self.check_built()
        k = self.num_importance_samples
        if num_importance_samples is not None:
            k = check_positive_int(num_importance_samples, "num_importance_samples")
        z = ops.cast(z, "float32")
        lead = tuple(ops.shape(z)[:-1])
        flat = ops.reshape(z, (-1, self.latent_dim))
        loc, scale = self.inference(flat)
        zeta = loc + scale * random.normal((k,) + tuple(ops.shape(loc)), seed=self.seed_generator)
        z_loc, z_scale = self.conditional(ops.reshape(zeta, (-1, self.zeta_dim)))
        z_loc = ops.reshape(z_loc, (k, -1, self.latent_dim))
        z_scale = ops.reshape(z_scale, (k, -1, self.latent_dim))
        log_w = (
            log_normal(flat, z_loc, z_scale)
            + log_normal(zeta, 0.0, 1.0)
            - log_normal(zeta, loc, scale)
        )
        return ops.reshape(log_w, (k,) + lead)

    def log_prob(self, z, num_importance_samples=None):
        """The bound F(z) with K samples (a stochastic lower bound of log p(z)).

        Shape `z.shape[:-1]`.
        """
        log_w = self.log_weights(z, num_importance_samples)
        return ops.logsumexp(log_w, axis=0) - math.log(log_w.shape[0])

    def sample(self, num_samples):
        self.check_built()
        zeta = random.normal((num_samples, self.zeta_dim), seed=self.seed_generator)
        loc, scale = self.conditional(zeta)
        return loc + scale * random.normal(ops.shape(loc), seed=self.seed_generator)

    def get_config(self):
        return {
            **super().get_config(),
            "zeta_dim": self.zeta_dim,
            "hidden_units": list(self.hidden_units),
            "num_importance_samples": self.num_importance_samples,
            "min_log_var": self.min_log_var,
            "max_log_var": self.max_log_var,
        }
