"""GECO: a Lagrange multiplier for a reconstruction constraint."""

import math

import keras
from keras import ops

from keras_vae.utils import distribute
from keras_vae.utils.validation import check_non_negative_float
from keras_vae.utils.validation import check_positive_float


@keras.saving.register_keras_serializable(package="keras_vae")
class GECO(keras.layers.Layer):
    """Lagrange multiplier λ >= 0 of the constraint E[C(x, z)] <= κ².

    A model given `constraint=GECO(kappa)` minimizes the Lagrangian

    ```none
    L = β KL + λ (C - κ²),     C = -log p(x | z)   (batch mean, nats/example)
    ```

    over its weights, while λ (a non-trainable variable) ascends it. Every
    training step, before the gradient step, with the batch value C_b
    (averaged over replicas) and δ = (Ĉ_t - κ²) / κ²:

    ```none
    Ĉ_t = α Ĉ_{t-1} + (1 - α) C_b              (Ĉ_1 = C_b)
    λ_t = clip(λ_{t-1} exp(ν f(λ_{t-1}, δ) δ), min_multiplier, max_multiplier)
    f   = 1                                     if δ >= 0 or damping is None
        = tanh(damping (λ_{t-1} - 1))           if δ < 0
    ```

    Without damping this is GECO (Rezende & Viola, 2018): λ grows while the
    moving average violates the constraint and shrinks while it holds. With
    `damping` it is the VHP-VAE rule (Klushyn et al., 2019, Sec. 3.3): once
    the constraint holds, λ relaxes towards 1, where the Lagrangian is the
    negative ELBO, instead of towards 0. The violation δ is relative to κ²
    so that `nu` does not depend on the units of C (the papers' absolute
    rate is ν / κ²). Updates only happen in training calls; the state (λ,
    Ĉ and the step count) is a set of layer weights, so it is saved with the
    model and restored by `BackupAndRestore`. Under `tf.distribute` C_b is
    averaged over replicas first, so every replica applies the same update.

    Args:
        kappa: Positive float κ; the constraint is E[C] <= κ².
        alpha: Moving-average decay in [0, 1). Defaults to 0.99.
        nu: Positive float, the multiplier's learning rate. Defaults to 0.05.
        damping: `None` (GECO) or the positive slope of the VHP-VAE rule.
        initial_multiplier: λ_0. Defaults to 1.0.
        min_multiplier: Lower clip of λ (> 0 so it can grow again). Defaults
            to 1e-6.
        max_multiplier: Upper clip of λ. Defaults to 100: early in training
            C is far above κ² and λ grows every step; a lower ceiling is
            still enough to escape posterior collapse, and λ needs fewer
            steps to come back down once the constraint holds.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        constraint: Scalar, the batch mean of C.
        training: Whether to update the state first.

    Returns:
        The scalar λ_t to weight the constraint with.

    Example:

    >>> vae = keras_vae.models.VAE(constraint=keras_vae.losses.GECO(kappa=8.0))
    >>> vae.compile(optimizer="adam", jit_compile=True)

    Reference:
        - [Rezende & Viola, 2018](https://arxiv.org/abs/1810.00597)
        - [Klushyn et al., 2019](https://arxiv.org/abs/1905.04982)
    """

    def __init__(
        self,
        kappa,
        alpha=0.99,
        nu=0.05,
        damping=None,
        initial_multiplier=1.0,
        min_multiplier=1e-6,
        max_multiplier=100.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kappa = check_positive_float(kappa, "kappa")
        self.alpha = check_non_negative_float(alpha, "alpha")
        if not self.alpha < 1:
            raise ValueError(f"Expected `alpha` in [0, 1). Received: alpha={alpha!r}")
        self.nu = check_positive_float(nu, "nu")
        self.damping = None if damping is None else check_positive_float(damping, "damping")
        self.min_multiplier = check_positive_float(min_multiplier, "min_multiplier")
        self.max_multiplier = check_positive_float(max_multiplier, "max_multiplier")
        self.initial_multiplier = check_positive_float(initial_multiplier, "initial_multiplier")
        if not self.min_multiplier <= self.initial_multiplier <= self.max_multiplier:
            raise ValueError(
                "Expected min_multiplier <= initial_multiplier <= max_multiplier. "
                f"Received: min_multiplier={min_multiplier!r}, "
                f"initial_multiplier={initial_multiplier!r}, "
                f"max_multiplier={max_multiplier!r}"
            )
        self.multiplier = self._state("multiplier", self.initial_multiplier)
        self.constraint_average = self._state("constraint_average", 0.0)
        self.steps = self._state("steps", 0.0)
        self.built = True

    def _state(self, name, value):
        # Replicas apply identical updates (C_b is all-reduced first), so
        # under tf.distribute the first replica's assignment is kept.
        return self.add_weight(
            name=name,
            shape=(),
            initializer=keras.initializers.Constant(value),
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    @property
    def kappa_squared(self):
        return self.kappa**2

    def update(self, constraint):
        """One update from the batch mean `constraint`; returns the new λ."""
        c = ops.cast(constraint, "float32")
        c = distribute.replica_sum(c) / distribute.num_replicas()
        first = ops.equal(self.steps, 0.0)
        average = ops.where(first, c, self.alpha * self.constraint_average + (1 - self.alpha) * c)
        delta = (average - self.kappa_squared) / self.kappa_squared
        lam = ops.convert_to_tensor(self.multiplier)
        rate = ops.ones_like(lam)
        if self.damping is not None:
            rate = ops.where(delta < 0, ops.tanh(self.damping * (lam - 1.0)), rate)
        # Clip the exponent too: one huge violation must not overflow exp.
        step = ops.clip(self.nu * rate * delta, -math.log(1e6), math.log(1e6))
        lam = ops.clip(lam * ops.exp(step), self.min_multiplier, self.max_multiplier)
        self.constraint_average.assign(average)
        self.multiplier.assign(lam)
        self.steps.assign(self.steps + 1.0)
        return lam

    def call(self, constraint, training=False):
        if training:
            return self.update(constraint)
        return ops.convert_to_tensor(self.multiplier)

    def compute_output_shape(self, input_shape):
        return ()

    def get_config(self):
        return {
            **super().get_config(),
            "kappa": self.kappa,
            "alpha": self.alpha,
            "nu": self.nu,
            "damping": self.damping,
            "initial_multiplier": self.initial_multiplier,
            "min_multiplier": self.min_multiplier,
            "max_multiplier": self.max_multiplier,
        }
