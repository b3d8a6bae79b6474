"""Base class of priors p(z) over a latent vector."""

import keras

from keras_vae.utils.precision import density_layer_kwargs
from keras_vae.utils.seed_streams import SeedStateMixin
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


class Prior(SeedStateMixin, keras.layers.Layer):
    """A prior p(z) over vectors of size `latent_dim`.

    Subclasses implement `log_prob(z)` (summed over the last axis) and
    `sample(num_samples)`. Priors with a closed-form KL to a diagonal Gaussian
    posterior set `has_analytic_kl = True` and implement `kl_divergence`;
    models then use it instead of a Monte Carlo estimate.

    `latent_dim` may be left `None`; a model then builds the prior with its
    own latent size via `build((None, latent_dim))`.

    The layer's dtype defaults to float32 (float64 under a float64 policy)
    whatever the global policy: under mixed precision log p(z), KL terms and
    samples are float32; only networks inside a prior (the encoder of a
    `VampPrior`, the MLPs of a `HierarchicalPrior`) run in the compute dtype.
    """

    has_analytic_kl = False

    def __init__(self, latent_dim=None, seed=None, **kwargs):
        super().__init__(**density_layer_kwargs(kwargs))
        self.latent_dim = check_optional_positive_int(latent_dim, "latent_dim")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        dim = input_shape[-1]
        if self.latent_dim is None:
            self.latent_dim = check_positive_int(dim, "latent_dim")
        elif dim is not None and dim != self.latent_dim:
            raise ValueError(
                f"Expected latents of size latent_dim={self.latent_dim}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.build_prior()

    def build_prior(self):
        """Create the prior's weights once `self.latent_dim` is known."""

    def attach_encoder(self, encoder, input_shape=None):
        """Hook for priors defined through the model's encoder (`VampPrior`).

        Models call it in `build` with their posterior function
        x -> `(loc, scale)` and data shape. The default does nothing.
        """

    def call(self, z):
        return self.log_prob(z)

    def log_prob(self, z):
        """log p(z) summed over the last axis. Shape `z.shape[:-1]`."""
        raise NotImplementedError

    def sample(self, num_samples):
        """`num_samples` draws from p(z), shape `(num_samples, latent_dim)`."""
        raise NotImplementedError

    def kl_divergence(self, loc, scale):
        """KL(N(loc, diag(scale^2)) || p), summed over the last axis."""
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form KL divergence; use a "
            "Monte Carlo estimate log q(z|x) - log p(z)."
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def check_built(self):
        if self.latent_dim is None:
            raise ValueError(
                f"{type(self).__name__} does not know its latent size yet. "
                "Pass `latent_dim=` or use it inside a model first. "
                "Received: latent_dim=None"
            )
        if not self.built:
            self.build((None, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "seed": self.seed}
