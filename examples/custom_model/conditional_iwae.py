"""A conditional IWAE: a user's model of p(x | c) on keras_vae's public contract.

The IWAE of `iwae.py` with a condition c (a class, Sohn et al., 2015, trained
on the IWAE bound of Burda et al., 2016), written as a subclass of
`keras_vae.models.LatentVariableModel` with public API only:

    condition  num_classes = C: fit(x, c), c class ids (batch,) or vectors (batch, C)
    encoder    Dense on [x, c], GaussianParameters -> loc, scale of q(z | x, c)
    sampling   self.reparameterize(loc, scale, k)  -> z of shape (k, batch, latent)
    decoder    Dense on [z, c]                     -> Bernoulli logits of p(x | z, c)
    densities  Bernoulli().log_prob, StandardNormal().log_prob, losses.log_normal
    objective  self.objective_terms(rec, kl): the IWAE bound of p(x | c)

Setting `self.num_classes` is what makes the base class treat the model as
conditional: its steps hand the hooks the pair `(x, c)` (`split_condition`),
its eager API (`encode`, `decode`, `sample`, `log_likelihood`) and serving
signatures pass `condition=c`, as float32 vectors (`prepare_condition`), and
`condition_tensor` turns class ids into one-hot rows where a caller passes
ids (a call `model((x, ids))`). The prior stays p(z).

Importable as `examples.custom_model.conditional_iwae` from the repository
root; the conformance suite (`keras_vae.testing.registry.USER_MODELS`) runs
its model checks on it.
"""

import keras
from keras import ops

import keras_vae
from keras_vae.losses import log_normal


@keras.saving.register_keras_serializable(package="custom_model")
class ConditionalIWAE(keras_vae.models.LatentVariableModel):
    """A conditional IWAE for flat binary vectors x given a class c.

    ```none
    log w_i = log p(x | z_i, c) + log p(z_i) - log q(z_i | x, c),   z_i ~ q(z | x, c)
    L_k     = log (1/k) sum_i w_i   <=   log p(x | c)
    ```

    c enters both networks concatenated to their input, as one-hot (or
    given float) vectors of width `num_classes`.
    """

    def __init__(
        self,
        num_classes,
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
        self.num_classes = int(num_classes)
        self.latent_dim = latent_dim
        self.hidden_units = tuple(hidden_units)
        self.num_importance_samples = num_importance_samples
        # The networks take their initial weights from the model's seed.
        with self.seeded_scope("encoder"):
            self.encoder = keras.Sequential(
                [keras.layers.Dense(u, activation="tanh") for u in self.hidden_units]
            )
            self.posterior = keras_vae.layers.GaussianParameters(latent_dim)
        # The prior samples z (`sample`) from its stream of the model's seed.
        self.likelihood = self.adopt_component(keras_vae.likelihoods.Bernoulli(), "likelihood")
        self.prior = self.adopt_component(
            keras_vae.priors.StandardNormal(latent_dim=latent_dim), "prior"
        )
        self.decoder = None
        self.data_shape = None

    def build(self, input_shape):
        if input_shape and isinstance(input_shape[0], (tuple, list)):
            input_shape = input_shape[0]  # a first call on the pair (x, c)
        self.data_shape = tuple(input_shape[1:])
        with self.seeded_scope("decoder"):
            self.decoder = keras.Sequential(
                [keras.layers.Dense(u, activation="tanh") for u in reversed(self.hidden_units)]
                + [keras.layers.Dense(self.data_shape[-1])]
            )
        encoder_input = (None, self.data_shape[-1] + self.num_classes)
        self.encoder.build(encoder_input)
        self.posterior.build(self.encoder.compute_output_shape(encoder_input))
        # The decoder reads [z, c]; the prior and sampler only z.
        decoder_input = (None, self.latent_dim + self.num_classes)
        self.build_generative(decoder_input, (None, self.latent_dim), self.encode_tensors)
        self.built = True

    # The graph hooks: q(z | x, c) and the mean of p(x | z, c), c float32
    # `(batch, num_classes)` (ids too: `condition_tensor` one-hot encodes).
    def encode_tensors(self, x, condition=None):
        return self._posterior(x, condition)

    def decode_tensors(self, z, condition=None):
        return self.likelihood.mean(self._logits(z, condition))

    def _condition(self, condition, dtype):
        if condition is None:
            raise ValueError(
                f"Expected a condition of shape (batch, {self.num_classes}) for "
                f"{type(self).__name__}, a model of p(x | c). Received: condition=None"
            )
        return ops.cast(self.condition_tensor(condition, "condition"), dtype)

    def _posterior(self, x, condition, training=False):
        """`(loc, scale)` of q(z | x, c), each `(batch, latent_dim)`."""
        x = ops.cast(x, "float32")
        inputs = ops.concatenate([x, self._condition(condition, x.dtype)], axis=-1)
        return self.posterior(self.encoder(inputs, training=training))

    def _logits(self, z, condition, training=False):
        """Decoder logits for z of shape `(..., batch, latent_dim)`, c
        repeated over z's leading sample axes."""
        lead = tuple(ops.shape(z)[:-1])
        c = ops.zeros_like(z[..., :1]) + self._condition(condition, z.dtype)
        flat = ops.reshape(
            ops.concatenate([z, c], axis=-1), (-1, self.latent_dim + self.num_classes)
        )
        return ops.reshape(self.decoder(flat, training=training), lead + self.data_shape)

    def _terms(self, x, condition, k, training=False):
        """log p(x | z, c) and log q(z | x, c) - log p(z) of k samples, `(k, batch)` each."""
        loc, scale = self._posterior(x, condition, training)
        z = self.reparameterize(loc, scale, k)  # (k, batch, latent): sample axis first
        rec = self.likelihood.log_prob(x, self._logits(z, condition, training))
        kl = log_normal(z, loc, scale) - self.prior.log_prob(z)
        return rec, kl

    def compute_terms(self, x, training=False):
        # The steps pass the pair (x, c); per example terms, `(batch,)`.
        x, c = self.split_condition(x)
        rec, kl = self._terms(x, c, self.num_importance_samples, training)
        objective, bound = self.objective_terms(rec, kl)  # beta-weighted, true bound
        return {
            "loss": -objective,
            "iwae_bound": bound,
            "reconstruction": ops.mean(rec, axis=0),  # averaged over the k samples
            "kl": ops.mean(kl, axis=0),
        }

    def log_importance_weights(self, x, num_importance_samples, condition=None):
        rec, kl = self._terms(x, condition, num_importance_samples)
        return rec - kl

    def call(self, x, training=False):
        # Deterministic: the mean of p(x | z, c) at z = E_q[z | x, c].
        x, c = self.split_condition(x)
        loc, _ = self._posterior(x, c, training)
        return self.likelihood.mean(self._logits(loc, c, training))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "latent_dim": self.latent_dim,
            "hidden_units": list(self.hidden_units),
            "num_importance_samples": self.num_importance_samples,
        }
