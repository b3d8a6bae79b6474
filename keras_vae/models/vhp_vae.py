"""VHPVAE: a VAE with a learned hierarchical prior, trained under a constraint."""

import keras
from keras import ops

from keras_vae.layers.geco import GECO
from keras_vae.losses.gaussian import log_normal
from keras_vae.models.vae import VAE
from keras_vae.priors.hierarchical_prior import HierarchicalPrior
from keras_vae.utils.validation import check_one_of

PRIOR_UPDATES = ("when_satisfied", "always")


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

    The bound F is the paper's importance-weighted bound of log p(z) and L
    its Lagrangian; the min-max is its optimisation problem (the
    empirical-Bayes step on Θ, Φ, the M-step on θ, the E-step on λ, φ).
    The prior is a `keras_vae.priors.HierarchicalPrior`; F stands in for
    log p(z) in the KL term. One training step, after the paper's
    Algorithm 1:

    1. C_ba, the batch mean of C, updates the moving average Ĉ_t and λ with
       the VHP-VAE rule (`keras_vae.layers.GECO` with `damping`: λ grows
       while Ĉ_t > κ² and relaxes towards 1, the ELBO, once it holds);
    2. one gradient step on L with λ_t for the encoder φ and decoder θ;
    3. with `prior_update="when_satisfied"` (the default), a gradient step
       for the prior's Θ, Φ only if Ĉ_t < κ²: while the reconstruction
       constraint is violated the prior's weights, and the state of its
       optimizer, do not move. The prior then has its own copy of the
       model's optimizer (`prior_optimizer`, same config, saved with the
       model), whose step count only advances on updating steps.
       `prior_update="always"` updates Θ, Φ every step with the model's
       optimizer, like the other weights.

    We could not read Algorithm 1 itself when this was written (only the
    poster's Lagrangian); the gating of step 3 is unverified against the
    text, and `benchmarks/RESULTS.md` §9 measures both rules. The metrics
    are the Lagrangian (`loss`), `elbo` (with F for log p(z)),
    `reconstruction`, `kl` (E[log q - F]), `lambda`, `constraint`,
    `constraint_average`.

    `log_likelihood` importance-samples z and ζ jointly:

    ```none
    log p(x) ~= log (1/S) Σ_s p(x | z_s) p_Θ(z_s | ζ_s) p(ζ_s) / (q(z_s | x) q_Φ(ζ_s | z_s))
    ```

    an IWAE bound over (z, ζ) that rises to log p(x) as S grows.

    As in `VAE`, `predict(x)` is deterministic (the mean of p(x | z) at
    z = E_q[z], equal to `reconstruct(x)`) and `evaluate` a Monte Carlo
    estimate of the training objective (two calls differ).

    Args:
        kappa: Positive float κ, the target reconstruction error is κ² nats
            per example. Required unless `constraint` is given.
        encoder: As in `keras_vae.models.VAE`.
        decoder: As in `keras_vae.models.VAE`.
        latent_dim: As in `keras_vae.models.VAE`. Defaults to 32.
        likelihood: As in `keras_vae.models.VAE`: `"gaussian"` has a FIXED
            sigma = 1; pass `keras_vae.likelihoods.Gaussian(learn_scale=True)`
            for a learned one.
        num_importance_samples: As in `keras_vae.models.VAE`.
        hidden_units: As in `keras_vae.models.VAE`.
        prior: A `HierarchicalPrior`; `None` builds the default one
            (ζ of the latent size, 256-256 gated MLPs, K = 10).
        constraint: A `GECO` instead of `kappa`, for other update settings.
            With `kappa`, `GECO(kappa, damping=1.0)` is used (absolute
            violation, ν = 1e-3 per nat, α = 0.99).
        prior_update: `"when_satisfied"` (default) or `"always"`, see step 3.
        **kwargs: `keras.Model` keyword arguments, and `min_log_var`,
            `max_log_var`, `dynamic_binarization` (binary-data likelihoods
            only) and `seed` as in `keras_vae.models.VAE`.

    Example:

    >>> vhp = keras_vae.models.VHPVAE(kappa=8.0, latent_dim=8, hidden_units=(64,))
    >>> vhp.compile(optimizer="adam")
    >>> history = vhp.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> history.history["lambda"]  # the Lagrange multiplier after each epoch
    [...]

    Reference:
        - [Klushyn et al., 2019](https://arxiv.org/abs/1905.04982), Sec. 2
          ("Methods"): the constrained problem (2.1, after Rezende & Viola),
          the hierarchical prior and its importance-weighted bound F, the
          Lagrangian and min-max problem above, and Algorithm 1.
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
        num_importance_samples=1,
        hidden_units=(300, 300),
        objective="elbo",
        prior_update="when_satisfied",
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
            num_importance_samples=num_importance_samples,
            hidden_units=hidden_units,
            analytic_kl=False,
            constraint=constraint,
            **kwargs,
        )
        self.prior_update = check_one_of(prior_update, "prior_update", PRIOR_UPDATES)
        self.prior_optimizer = None
        self._prior_optimizer_source = None

    def build(self, input_shape):
        super().build(input_shape)
        self._ensure_prior_optimizer()

    def make_train_function(self, force=False):
        # `fit` calls this after building the model and its optimizer and
        # before `BackupAndRestore` restores the weights.
        self._ensure_prior_optimizer()
        return super().make_train_function(force=force)

    def _ensure_prior_optimizer(self):
        """Create (or, after a new `compile`, recreate) and build the prior's
        copy of the model's optimizer, for `prior_update="when_satisfied"`."""
        optimizer = getattr(self, "optimizer", None)
        if self.prior_update != "when_satisfied" or optimizer is None or not self.built:
            return
        if self.prior_optimizer is None or self._prior_optimizer_source != id(optimizer):
            config = optimizer.get_config()
            config["name"] = "prior_" + str(config.get("name", "optimizer"))
            self.prior_optimizer = type(optimizer).from_config(config)
            self._prior_optimizer_source = id(optimizer)
        with self.strategy_scope():
            # Built over all weights, as `compile` does for a loaded model,
            # although the prior's slots stay unused: saved files match.
            if not optimizer.built:
                optimizer.build(self.trainable_variables)
            if not self.prior_optimizer.built:
                self.prior_optimizer.build(self.prior.trainable_variables)

    def step_state_variables(self):
        """The step guards' variables and `prior_optimizer`'s."""
        extra = [] if self.prior_optimizer is None else list(self.prior_optimizer.variables)
        return super().step_state_variables() + extra

    def apply_gradients_if(self, apply, grads, variables):
        """Step 3 of the class docstring: the prior's weights only move
        (with `prior_optimizer`) while the moving average of the constraint
        is below κ²; the other weights move whenever `apply` holds."""
        if self.prior_optimizer is None:
            return super().apply_gradients_if(apply, grads, variables)
        prior_ids = {id(v) for v in self.prior.trainable_variables}
        pairs = list(zip(grads, variables))
        rest = [(g, v) for g, v in pairs if id(v) not in prior_ids]
        own = [(g, v) for g, v in pairs if id(v) in prior_ids]
        rest_grads, rest_variables = [g for g, _ in rest], [v for _, v in rest]
        super().apply_gradients_if(apply, rest_grads, rest_variables)
        average = ops.convert_to_tensor(self.constraint.constraint_average)
        satisfied = ops.less(average, self.constraint.kappa_squared)
        self.optimizer_apply_if(
            self.prior_optimizer,
            ops.logical_and(apply, satisfied),
            [g for g, _ in own],
            [v for _, v in own],
        )

    @property
    def kappa(self):
        return self.constraint.kappa

    def log_importance_weights(self, x, num_importance_samples):
        loc, scale = self.posterior_params(x)
        z = self.reparameterize(loc, scale, num_importance_samples)
        rec = self.likelihood.log_prob(x, self.decoder_params(z))
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
        config["prior_update"] = self.prior_update
        return config
