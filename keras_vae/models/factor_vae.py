"""FactorVAE: a VAE whose total correlation is penalized through a discriminator."""

import keras
from keras import ops

from keras_vae.losses.gaussian import log_normal
from keras_vae.models.vae import VAE
from keras_vae.utils import random
from keras_vae.utils.validation import check_widths

DISCRIMINATOR_METRICS = ("total_correlation", "discriminator_loss", "discriminator_accuracy")


def _check_weight(value, name):
    value = float(value)
    if not value >= 0.0:
        raise ValueError(
            f"Expected `{name}` to be a non-negative float. Received: {name}={value!r}"
        )
    return value


def _mlp_discriminator(units):
    """The paper's discriminator: Dense + LeakyReLU(0.2) layers, then 2 logits."""
    layers = [keras.layers.Dense(u, activation="leaky_relu") for u in units]
    return keras.Sequential(layers + [keras.layers.Dense(2)], name="discriminator")


@keras.saving.register_keras_serializable(package="keras_vae")
class FactorVAE(VAE):
    """FactorVAE (Kim & Mnih, 2018): the ELBO plus gamma times a density-ratio TC.

    ```none
    loss_i = -( log p(x_i | z_i) - beta KL(q(z | x_i) || p(z)) ) + gamma TC_i + L_D,i
    TC     = KL(q(z) || prod_d q(z_d)) = E_q(z)[ log q(z) / prod_d q(z_d) ]
    TC_i   = log D(z_i) / (1 - D(z_i)) = l_0(z_i) - l_1(z_i),     z_i ~ q(z | x_i)
    L_D,i  = -(1/2) [ log D(sg z_i) + log(1 - D(sg z~_i)) ]
    ```

    D(z) = softmax(l(z))_0 is the discriminator's probability that z was
    drawn from the aggregate posterior q(z) rather than from prod_d q(z_d),
    from its two logits l = (l_0, l_1). Samples of prod_d q(z_d) are the
    batch's z with each latent dimension shuffled independently across the
    batch (`permute_dimensions`, z~). At the optimal discriminator
    D / (1 - D) = q(z) / prod_d q(z_d), so TC_i estimates the total
    correlation; L_D is D's cross-entropy (log 2 at chance).

    One optimizer trains both parameter sets (Keras's `fit` has one), each
    on its own objective only: the TC term reads D with its weights under
    `ops.stop_gradient` (the encoder learns from it, D does not), and L_D
    reads z and z~ under `ops.stop_gradient` (D learns from it, the encoder
    does not); `sg` above. The paper differs in two ways:

    - two optimizers, Adam(1e-4, betas (0.9, 0.999)) for the VAE and
      Adam(1e-4, betas (0.5, 0.9)) for D. Here both share one; compile with
      `keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.999)` for the
      paper's VAE setting (D then uses the VAE's betas);
    - it splits each batch in two, the first half for the VAE loss and the
      TC term, the second half's z permuted for D. Here the whole batch
      serves both, so each example has all its terms (the per-example
      contract of `compute_terms`); a permuted row then shares its value
      in dimension j with its own real row with probability 1/B per
      dimension, a negligible overlap at the usual batch sizes.

    `beta` is the KL weight of `keras_vae.models.VAE` (1 in the paper; a
    variable `keras_vae.callbacks.KLWarmUp` schedules). The metrics are
    `loss` (the whole sum above), `elbo` (the true bound, analytic KL),
    `reconstruction`, `kl`, `total_correlation` (the batch mean of TC_i,
    the discriminator's estimate), `discriminator_loss` (L_D),
    `discriminator_accuracy` (the fraction of z and z~ that D classifies
    right) and `beta`. The permutation draws from the model's
    `"permutation"` seed stream, saved with the model like its others.

    Args:
        gamma: Non-negative weight of the total correlation. Defaults to
            10; tune it per dataset (the paper sweeps it, and its best
            value differs between datasets).
        discriminator: Optional Keras layer mapping z `(batch, latent_dim)`
            to two logits `(batch, 2)`, index 0 for "drawn from q(z)".
            Defaults to an MLP of `discriminator_units` Dense layers with
            LeakyReLU(0.2) and a Dense(2) output, as in the paper.
        discriminator_units: Widths of the default discriminator's hidden
            layers. Defaults to `(1000,) * 6`, the paper's 6 x 1000.
        encoder: As in `keras_vae.models.VAE`.
        decoder: As in `keras_vae.models.VAE`.
        latent_dim: As in `keras_vae.models.VAE`. Defaults to 10.
        prior: As in `keras_vae.models.VAE`.
        likelihood: As in `keras_vae.models.VAE`.
        hidden_units: As in `keras_vae.models.VAE`.
        **kwargs: `keras.Model` keyword arguments, and `beta`,
            `min_log_var`, `max_log_var`, `dynamic_binarization`,
            `num_classes` and `seed` as in `keras_vae.models.VAE`. The
            objective is the ELBO with one sample of z per example
            (`objective`, `num_importance_samples`, `gradient_estimator`
            and `analytic_kl` are fixed); a GECO `constraint` is refused
            (its Lagrangian would drop the TC and discriminator terms).

    Example:

    >>> model = keras_vae.models.FactorVAE(
    ...     gamma=10.0, latent_dim=4, hidden_units=(64,),
    ...     discriminator_units=(64, 64), seed=0)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> sorted(set(history.history) & {"total_correlation", "discriminator_loss"})
    ['discriminator_loss', 'total_correlation']

    Reference:
        - [Kim & Mnih, 2018](https://arxiv.org/abs/1802.05983), Sec. 3 and
          Algorithm 2.
    """

    def __init__(
        self,
        gamma=10.0,
        discriminator=None,
        discriminator_units=(1000,) * 6,
        encoder=None,
        decoder=None,
        latent_dim=10,
        prior=None,
        likelihood="bernoulli",
        hidden_units=(300, 300),
        **kwargs,
    ):
        if kwargs.get("constraint") is not None:
            raise ValueError(
                "FactorVAE takes no `constraint`: the GECO Lagrangian replaces "
                "the loss by beta KL + lambda (C - kappa^2), which would drop "
                "the total correlation and discriminator terms. Received: "
                f"constraint={kwargs['constraint']!r}"
            )
        super().__init__(
            encoder=encoder,
            decoder=decoder,
            latent_dim=latent_dim,
            prior=prior,
            likelihood=likelihood,
            objective="elbo",
            num_importance_samples=1,
            hidden_units=hidden_units,
            analytic_kl=True,
            metric_names=DISCRIMINATOR_METRICS,
            **kwargs,
        )
        self.gamma = _check_weight(gamma, "gamma")
        self.discriminator_units = check_widths(discriminator_units, "discriminator_units")
        self._default_discriminator = discriminator is None
        if discriminator is None:
            with self.seeded_scope("discriminator"):
                discriminator = _mlp_discriminator(self.discriminator_units)
        self.discriminator = discriminator
        self.permutation_generator = keras.random.SeedGenerator(
            self.stream_seed("permutation"), name="permutation_seed_generator"
        )

    def build(self, input_shape):
        super().build(input_shape)
        latent = (None, self.latent_dim)
        if not self.discriminator.built:
            self.discriminator.build(latent)
        shape = tuple(self.discriminator.compute_output_shape(latent))
        if shape[1:] != (2,):
            raise ValueError(
                "Expected the discriminator to map z of shape (batch, "
                f"{self.latent_dim}) to two logits (batch, 2). Received: "
                f"output shape {shape}"
            )

    # ------------------------------------------------------- discriminator
    def permute_dimensions(self, z):
        """Samples of prod_d q(z_d): each column of `z` `(batch, d)` shuffled
        independently across the batch (a fresh permutation per column,
        from the model's `"permutation"` seed stream).

        The permutation of column j is the argsort of B uniform draws, a
        uniformly random permutation of the batch; each column keeps its
        multiset of values and loses its pairing with the other columns.
        """
        u = random.uniform(ops.shape(z), seed=self.permutation_generator)
        return ops.take_along_axis(z, ops.argsort(u, axis=0), axis=0)

    def discriminator_logits(self, z, training=False, trainable=True):
        """The discriminator's float32 logits `(batch, 2)` for z; with
        `trainable=False`, computed from its weights under
        `ops.stop_gradient` (gradients reach z, not the weights)."""
        if trainable:
            logits = self.discriminator(z, training=training)
        else:
            frozen = [ops.stop_gradient(v) for v in self.discriminator.trainable_variables]
            logits, _ = self.discriminator.stateless_call(
                frozen, self.discriminator.non_trainable_variables, z, training=training
            )
        return ops.cast(logits, "float32")

    # ------------------------------------------------------------- terms
    def compute_terms(self, x, training=False):
        x, c = self.split_condition(x)  # with `num_classes`, q(z | x, c)
        self.check_input(x)
        loc, scale = self.posterior_params(x, training, c)
        z = self.reparameterize(loc, scale)
        rec = self.likelihood.log_prob(x, self.decoder_params(z, training, c))
        if self.prior.has_analytic_kl:
            kl = self.prior.kl_divergence(loc, scale)
        else:
            kl = log_normal(z, loc, scale) - self.prior.log_prob(z)
        # TC_i = l_0 - l_1 of D at z_i, D frozen: trains the encoder only.
        frozen = self.discriminator_logits(z, training, trainable=False)
        tc = frozen[:, 0] - frozen[:, 1]
        # D's cross-entropy on z (class 0) and z~ (class 1), z frozen.
        z_real = ops.stop_gradient(z)
        z_perm = ops.stop_gradient(self.permute_dimensions(z))
        real = self.discriminator_logits(z_real, training)
        perm = self.discriminator_logits(z_perm, training)
        # -log softmax(l)_0 = softplus(l_1 - l_0), and the converse.
        d_loss = 0.5 * (
            ops.softplus(real[:, 1] - real[:, 0]) + ops.softplus(perm[:, 0] - perm[:, 1])
        )
        correct = ops.cast(real[:, 0] > real[:, 1], "float32") + ops.cast(
            perm[:, 1] > perm[:, 0], "float32"
        )
        beta = ops.cast(self.beta, "float32")
        return {
            "loss": -(rec - beta * kl) + self.gamma * tc + d_loss,
            "elbo": rec - kl,
            "reconstruction": rec,
            "kl": kl,
            "total_correlation": tc,
            "discriminator_loss": d_loss,
            "discriminator_accuracy": 0.5 * correct,
        }

    def get_config(self):
        config = super().get_config()
        # Fixed by this class (see the `**kwargs` argument).
        for name in ("objective", "num_importance_samples", "gradient_estimator", "analytic_kl"):
            config.pop(name, None)
        config.update(
            gamma=self.gamma,
            discriminator=None
            if self._default_discriminator
            else keras.saving.serialize_keras_object(self.discriminator),
            discriminator_units=list(self.discriminator_units),
        )
        return config
