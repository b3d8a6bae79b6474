"""VHPVAE: a VAE with a learned hierarchical prior, trained under a constraint."""

import keras

from keras_vae.losses.geco import GECO
from keras_vae.models.vae import VAE
from keras_vae.priors.hierarchical_prior import HierarchicalPrior
from keras_vae.utils.gaussian import log_normal


@keras.saving.register_keras_serializable(package="keras_vae")
class VHPVAE(VAE):
    """Variational hierarchical-prior VAE (Klushyn et al., 2019).

    ```none
    q_φ(z | x), p_θ(x | z),   p(z) = ∫ p_Θ(z | ζ) N(ζ; 0, I) dζ
    F(z)   = log (1/K) Σ_k p_Θ(z, ζ_k) / q_Φ(ζ_k | z),  ζ_k ~ q_Φ(ζ | z)
    L      = E_x E_q(z|x) [ log q_φ(z | x) - F(z) + λ (C(x, z) - κ²) ]
    C(x,z) = -log p_θ(x | z)
    min_{Θ,Φ} min_θ max_{λ>=0} min_φ L
    ```

    The prior is a `keras_vae.priors.HierarchicalPrior`; its bound F stands
    in for log p(z) in the KL term. Every training step updates λ from the
    moving average of C with the VHP-VAE rule (`keras_vae.losses.GECO` with
    `damping`: λ grows while the reconstruction error exceeds κ² and relaxes
    towards 1, the ELBO, once it holds), then takes one gradient step on L
    for all weights: the empirical-Bayes step on the prior (Θ, Φ), the
    M-step on the decoder θ and the E-step on the encoder φ, which for a
    fixed λ are gradient steps on the same Lagrangian. The metrics are the
    Lagrangian (`loss`), `elbo` (with F for log p(z)), `reconstruction`,
    `kl` (E[log q - F]), `lambda`, `constraint`, `constraint_average`.

    `log_likelihood` importance-samples z and ζ jointly:

    ```none
    log p(x) ~= log (1/S) Σ_s p(x | z_s) p_Θ(z_s | ζ_s) p(ζ_s) / (q(z_s | x) q_Φ(ζ_s | z_s))
    ```

    an IWAE bound over (z, ζ) that rises to log p(x) as S grows.

    Args:
        kappa: Positive float κ, the target reconstruction error is κ² nats
            per example. Required unless `constraint` is given.
        encoder, decoder, latent_dim, likelihood, num_samples, hidden_units,
        min_log_var, max_log_var, dynamic_binarization, seed: As in
            `keras_vae.models.VAE`. `latent_dim` defaults to 32.
        prior: A `HierarchicalPrior`; `None` builds the default one
            (ζ of the latent size, 256-256 gated MLPs, K = 10).
        constraint: A `GECO` instead of `kappa`, for other update settings.
            With `kappa`, `GECO(kappa, damping=1.0)` is used.
        **kwargs: `keras.Model` keyword arguments.

    Example:

    >>> vhp = keras_vae.models.VHPVAE(kappa=8.0, latent_dim=8, hidden_units=(64,))
    >>> vhp.compile(optimizer="adam", jit_compile=True)
    >>> history = vhp.fit(x_train, epochs=1, batch_size=100)
    >>> history.history["lambda"]

    Reference:
        - [Klushyn et al., 2019](https://arxiv.org/abs/1905.04982)
        - [Rezende & Viola, 2018](https://arxiv.org/abs/1810.00597)
    """

    def __init__(
        self,
        kappa=None,
        encoder=None,
        decoder=None,
        latent_dim=32,
        prior=None,
        constraint=None,
        likelihood="bernoulli",
        num_samples=1,
        hidden_units=(300, 300),
        objective="elbo",
        **kwargs,
    ):
        if (kappa is None) == (constraint is None):
            raise ValueError(
                "Expected exactly one of `kappa` and `constraint`. Received: "
                f"kappa={kappa!r}, constraint={constraint!r}"
            )
        if constraint is None:
            constraint = GECO(kappa, damping=1.0, name="geco")
        if objective != "elbo":
            raise ValueError(
                "VHPVAE trains on its Lagrangian, an ELBO with a constraint. "
                f"Received: objective={objective!r}"
            )
        if isinstance(prior, dict):
            prior = keras.saving.deserialize_keras_object(prior)
        if prior is None:
            prior = HierarchicalPrior(name="hierarchical_prior")
        if not isinstance(prior, HierarchicalPrior):
            raise ValueError(
                "Expected `prior` to be None or a `keras_vae.priors.HierarchicalPrior`. "
                f"Received: prior={prior!r}"
            )
        super().__init__(
            encoder=encoder,
            decoder=decoder,
            latent_dim=latent_dim,
            prior=prior,
            likelihood=likelihood,
            objective="elbo",
            num_samples=num_samples,
            hidden_units=hidden_units,
            analytic_kl=False,
            constraint=constraint,
            **kwargs,
        )

    @property
    def kappa(self):
        return self.constraint.kappa

    def log_importance_weights(self, x, num_samples):
        loc, scale = self._posterior(x)
        z = self._sample(loc, scale, num_samples)
        rec = self.likelihood.log_prob(x, self._decode_params(z))
        log_q = log_normal(z, loc, scale)
        # One ζ per z: the joint (z, ζ) proposal keeps the bound valid at
        # 1/K of the cost of K inner samples.
        log_prior = self.prior.log_weights(z, 1)[0]
        return rec + log_prior - log_q

    def get_config(self):
        config = super().get_config()
        config.pop("analytic_kl")
        # `constraint` holds kappa and every other GECO setting.
        config["kappa"] = None
        return config
