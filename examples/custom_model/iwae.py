"""The IWAE of `examples/custom_model`: a user's model on keras_vae's public contract.

An importance weighted autoencoder (Burda et al., 2016) written as a subclass
of `keras_vae.models.LatentVariableModel`, using only public API:

    encoder    GatedDense, GatedDense, GaussianParameters -> loc, scale of q(z|x)
    sampling   self.reparameterize(loc, scale, k)  -> z of shape (k, batch, latent)
    decoder    GatedDense, GatedDense, Dense       -> Bernoulli logits of p(x|z)
    densities  Bernoulli().log_prob, StandardNormal().log_prob, losses.log_normal
    objective  self.objective_terms(rec, kl): the IWAE bound over the k samples

A module of its own, importable as `examples.custom_model.iwae` from the
repository root, so that a process loading a saved IWAE (`.keras`,
`ModelCheckpoint`) imports the class by name, and the conformance suite
(`keras_vae.testing.registry.USER_MODELS`) runs its model checks on it.
`train.py` trains it.
"""

import keras
from keras import ops

import keras_vae
from keras_vae.losses import log_normal


@keras.saving.register_keras_serializable(package="custom_model")
class IWAE(keras_vae.models.LatentVariableModel):
    """An IWAE for flat binary vectors, on the `LatentVariableModel` contract.

    ```none
    log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x),   z_i ~ q(z | x)
    L_k     = log (1/k) sum_i w_i
    ```
    """

    def __init__(
        self,
        latent_dim=8,
        hidden_units=(128, 128),
        num_importance_samples=10,
        beta=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            metric_names=("reconstruction", "kl"),
            objective="iwae",
            beta=beta,
            seed=seed,
            **kwargs,
        )
        self.latent_dim = latent_dim
        self.hidden_units = tuple(hidden_units)
        self.num_importance_samples = num_importance_samples
        GatedDense = keras_vae.layers.GatedDense
        # Layers made in `seeded_scope` take their initial weights from the
        # model's `seed`; `adopt_component` gives the prior and likelihood
        # their own streams of it: the same seed, the same model.
        with self.seeded_scope("encoder"):
            self.encoder = keras.Sequential([GatedDense(u) for u in self.hidden_units])
            self.posterior = keras_vae.layers.GaussianParameters(latent_dim)
        self.likelihood = self.adopt_component(keras_vae.likelihoods.Bernoulli(), "likelihood")
        self.prior = self.adopt_component(
            keras_vae.priors.StandardNormal(latent_dim=latent_dim), "prior"
        )
        self.decoder = None
        self.data_shape = None

    def build(self, input_shape):
        # Everything is created from the data shape (batch, data_dim).
        self.data_shape = tuple(input_shape[1:])
        GatedDense = keras_vae.layers.GatedDense
        with self.seeded_scope("decoder"):
            self.decoder = keras.Sequential(
                [GatedDense(u) for u in reversed(self.hidden_units)]
                + [keras.layers.Dense(self.data_shape[-1])]
            )
        self.encoder.build(input_shape)
        self.posterior.build(self.encoder.compute_output_shape(input_shape))
        # The base class builds the decoder (checking its output shape), the
        # prior, the likelihood and its own sampler (shown by `summary()`).
        latent = (None, self.latent_dim)
        self.build_generative(latent, latent, self.encode_tensors)
        self.built = True

    # The graph hooks: q(z | x) and the mean of p(x | z).
    def encode_tensors(self, x):
        return self.posterior(self.encoder(x))

    def decode_tensors(self, z):
        return self.likelihood.mean(self._logits(z))

    def _logits(self, z, training=False):
        """Decoder logits for z of shape `(..., latent_dim)`."""
        lead = tuple(ops.shape(z)[:-1])
        flat = self.decoder(ops.reshape(z, (-1, self.latent_dim)), training=training)
        return ops.reshape(flat, lead + self.data_shape)

    def _terms(self, x, k, training=False):
        """log p(x | z) and log q(z | x) - log p(z) of k samples, `(k, batch)` each."""
        loc, scale = self.posterior(self.encoder(x, training=training))
        z = self.reparameterize(loc, scale, k)  # (k, batch, latent): sample axis first
        rec = self.likelihood.log_prob(x, self._logits(z, training))
        kl = log_normal(z, loc, scale) - self.prior.log_prob(z)
        return rec, kl

    def compute_terms(self, x, training=False):
        # Per example, `(batch,)`: the base class's `compute_loss` takes the
        # batch mean of "loss", the metrics the batch mean of every term.
        rec, kl = self._terms(x, self.num_importance_samples, training)
        objective, bound = self.objective_terms(rec, kl)  # beta-weighted, true bound
        return {
            "loss": -objective,
            "iwae_bound": bound,
            "reconstruction": ops.mean(rec, axis=0),  # averaged over the k samples
            "kl": ops.mean(kl, axis=0),
        }

    def log_importance_weights(self, x, num_importance_samples):
        rec, kl = self._terms(x, num_importance_samples)
        return rec - kl

    def call(self, x, training=False):
        # Deterministic, like the library's models: the mean of p(x | z) at
        # the posterior mean z = E_q[z], what `predict` and `reconstruct` give.
        loc, _ = self.posterior(self.encoder(x, training=training))
        return self.likelihood.mean(self._logits(loc, training))

    def get_config(self):
        # The base config holds the base arguments this class takes from its
        # caller (`beta`, `seed`), not those it fixes itself (`objective`,
        # `metric_names`), so `keras.models.load_model`, `clone_model` and
        # `ModelCheckpoint` files rebuild it with `IWAE(**config)`.
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "hidden_units": list(self.hidden_units),
            "num_importance_samples": self.num_importance_samples,
        }
