"""GECO: a Lagrange multiplier for a reconstruction constraint."""

import math

import keras
from keras import ops

from keras_vae.utils import distribute
from keras_vae.utils.precision import density_layer_kwargs
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
    training step, before the gradient step, with the batch value C_ba
    (averaged over replicas):

    ```none
    Ĉ_t = α Ĉ_{t-1} + (1 - α) C_ba             (Ĉ_1 = C_ba)
    δ_t = Ĉ_t - κ²                               (relative=False, the default)
        = (Ĉ_t - κ²) / κ²                        (relative=True)
    λ_t = clip(λ_{t-1} exp(ν f(λ_{t-1}, δ_t) δ_t), min_multiplier, max_multiplier)
    f(λ, δ) = H(δ) + (1 - H(δ)) tanh(ξ (λ - 1)),  H(δ) = 1 if δ >= 0 else 0
    ```

    with ξ = `damping`; without damping f = 1. Without damping this is the
    update of GECO (Rezende & Viola, 2018, Algorithm 1): a moving average
    of the constraint and a multiplicative, exponentiated step in λ, so λ
    grows while the average violates the constraint and shrinks towards 0
    while it holds. With `damping` it is the VHP-VAE update (Klushyn et al.,
    2019, Sec. 2 and Algorithm 1): while the constraint holds, the tanh
    factor makes λ relax towards 1, where the Lagrangian is the negative
    ELBO, instead of towards 0, and λ = 1 is a fixed point.

    Which parts follow the published text: both papers write the step in
    the absolute violation Ĉ_t - κ² (nats), which is the default here, so
    `nu` has units of 1/nat. `relative=True` is our own variant, kept as an
    option: it divides the violation by κ² so that `nu` is unit-free and one
    value works across κ (this library's earlier default, with ν = 0.05;
    ν_abs = ν_rel / κ² gives the same steps). The tanh damping, the
    Heaviside switch and the moving average are written as the VHP-VAE paper
    describes them, but its Algorithm 1 and appendix could not be read when
    this was written (see `examples/vhp_vae/README.md`): the sign
    convention, H(0) = 1 and α = 0.99 are unverified against the text. The
    clip of λ and of the exponent are our additions for robustness.

    Updates only happen in training calls; the state (λ, Ĉ and the step
    count) is a set of layer weights, so it is saved with the model and
    restored by `BackupAndRestore`. Under `tf.distribute` C_ba is averaged
    over replicas first, so every replica applies the same update.

    Args:
        kappa: Positive float κ; the constraint is E[C] <= κ².
        alpha: Moving-average decay α in [0, 1). Defaults to 0.99.
        nu: Positive float ν, the multiplier's learning rate: per nat of
            violation by default, per unit of relative violation with
            `relative=True`. Defaults to 1e-3.
        damping: `None` (GECO) or the positive slope ξ of the VHP-VAE rule.
        relative: If `True`, use the violation relative to κ² (our variant,
            see above). Defaults to `False` (the published rule).
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

    >>> vae = keras_vae.models.VAE(constraint=keras_vae.layers.GECO(kappa=8.0))
    >>> vae.compile(optimizer="adam", jit_compile=True)

    Reference:
        - [Rezende & Viola, 2018](https://arxiv.org/abs/1810.00597),
          Algorithm 1 (GECO).
        - [Klushyn et al., 2019](https://arxiv.org/abs/1905.04982),
          Algorithm 1 (VHP-VAE) and its λ update.
    """

    def __init__(
        self,
        kappa,
        alpha=0.99,
        nu=1e-3,
        damping=None,
        relative=False,
        initial_multiplier=1.0,
        min_multiplier=1e-6,
        max_multiplier=100.0,
        **kwargs,
    ):
        super().__init__(**density_layer_kwargs(kwargs))
        self.kappa = check_positive_float(kappa, "kappa")
        self.alpha = check_non_negative_float(alpha, "alpha")
        if not self.alpha < 1:
            raise ValueError(f"Expected `alpha` in [0, 1). Received: alpha={alpha!r}")
        self.nu = check_positive_float(nu, "nu")
        self.damping = None if damping is None else check_positive_float(damping, "damping")
        if not isinstance(relative, bool):
            raise ValueError(f"Expected `relative` to be a bool. Received: relative={relative!r}")
        self.relative = relative
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
        delta = average - self.kappa_squared
        if self.relative:
            delta = delta / self.kappa_squared
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
            "relative": self.relative,
            "initial_multiplier": self.initial_multiplier,
            "min_multiplier": self.min_multiplier,
            "max_multiplier": self.max_multiplier,
        }
