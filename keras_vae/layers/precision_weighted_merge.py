"""PrecisionWeightedMerge: the posterior of the Ladder VAE's top-down pass."""

import keras
import numpy as np
from keras import ops

from keras_vae.utils.backend import is_concrete
from keras_vae.utils.precision import density_layer_kwargs


def _broadcast_shapes(*shapes):
    """Numpy-style broadcast of static shapes (`None` for unknown sizes)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(
                "Expected `loc` and `scale` shapes that broadcast together. "
                f"Received: shapes {[tuple(s) for s in shapes]}"
            )
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _check_positive(scale, name):
    """Raise if a concrete (numpy or eager) `scale` has a value <= 0 or NaN."""
    if not is_concrete(scale):
        return
    value = np.asarray(ops.convert_to_numpy(scale))
    if value.size and not np.all(value > 0):
        bad = int(value.size - np.count_nonzero(value > 0))
        raise ValueError(
            f"Expected `{name}` to hold positive standard deviations. Received: "
            f"{name} with {bad} value(s) <= 0 or NaN (min={np.nanmin(value):g})."
        )


@keras.saving.register_keras_serializable(package="keras_vae")
class PrecisionWeightedMerge(keras.layers.Layer):
    """Merges two diagonal Gaussians by adding their precisions.

    The Ladder VAE's posterior q(z_i | .) combines a bottom-up, data-dependent
    Gaussian "likelihood" term N(mu_hat, sigma_hat^2) with the top-down prior
    N(mu_p, sigma_p^2) of the generative model. Their normalized product is
    the Gaussian

    ```none
    sigma_q^2 = 1 / (sigma_hat^-2 + sigma_p^-2)
    mu_q      = (mu_hat sigma_hat^-2 + mu_p sigma_p^-2) sigma_q^2
              = w mu_hat + (1 - w) mu_p,   w = sigmoid(log sigma_p^2 - log sigma_hat^2)
    ```

    computed in log-precision space: with v = log sigma^2,
    `log sigma_q^2 = -logaddexp(-v_hat, -v_p)` and both weights are sigmoids
    of `v_p - v_hat`, so no variance or precision is ever formed. Scales from
    1e-30 to 1e30 stay finite in float32, a term with a huge scale leaves
    the other one unchanged, and gradients are those of smooth functions.
    Inputs broadcast against each other (e.g. a bottom-up term of shape
    `(batch, d)` with a prior of shape `(samples, batch, d)`).

    The merge has no weights. Its dtype defaults to float32 (float64 under a
    float64 policy) whatever the global policy, so under mixed precision it
    takes, computes and returns float32 (float64 for a float64 layer).

    Args:
        **kwargs: Base layer keyword arguments.

    Call arguments:
        likelihood: A pair `(loc_hat, scale_hat)`, the bottom-up term.
        prior: A pair `(loc_p, scale_p)`, the top-down prior.

    Returns:
        A pair `(loc_q, scale_q)` with the broadcast shape of the inputs.

    Raises:
        ValueError: if a concrete (numpy or eager) scale holds a value <= 0.
            Symbolic and compiled calls are not checked.

    Example:

    >>> merge = keras_vae.layers.PrecisionWeightedMerge()
    >>> loc, scale = merge(
    ...     (np.array([[1.0]], "float32"), np.array([[1.0]], "float32")),
    ...     (np.array([[3.0]], "float32"), np.array([[1.0]], "float32")))
    >>> float(loc[0, 0]), round(float(scale[0, 0]) ** 2, 6)
    (2.0, 0.5)

    Reference:
        - [Sønderby et al., 2016](https://arxiv.org/abs/1602.02282)
    """

    def __init__(self, **kwargs):
        super().__init__(**density_layer_kwargs(kwargs))

    def build(self, likelihood_shape, prior_shape):
        # Named after the call arguments, like `compute_output_shape`: Keras
        # (e.g. `model.summary()`) calls it with the recorded build shapes.
        pass

    def _working_dtype(self):
        return "float64" if self.compute_dtype == "float64" else "float32"

    def call(self, likelihood, prior):
        (loc_hat, scale_hat), (loc_p, scale_p) = likelihood, prior
        _check_positive(scale_hat, "scale_hat")
        _check_positive(scale_p, "scale_p")
        dtype = self._working_dtype()
        loc_hat, scale_hat, loc_p, scale_p = (
            ops.cast(t, dtype) for t in (loc_hat, scale_hat, loc_p, scale_p)
        )
        # Log-variances; their difference is the log of the precision ratio.
        log_var_hat = 2.0 * ops.log(scale_hat)
        log_var_p = 2.0 * ops.log(scale_p)
        log_var_q = -ops.logaddexp(-log_var_hat, -log_var_p)
        diff = log_var_p - log_var_hat
        # Two sigmoids instead of w and 1 - w: each weight is accurate when
        # it is tiny, so the other Gaussian's mean passes through exactly.
        loc_q = ops.sigmoid(diff) * loc_hat + ops.sigmoid(-diff) * loc_p
        return loc_q, ops.exp(0.5 * log_var_q)

    def compute_output_shape(self, likelihood_shape, prior_shape):
        shape = _broadcast_shapes(*likelihood_shape, *prior_shape)
        return shape, shape

    def compute_output_spec(self, likelihood, prior):
        shape = self.compute_output_shape(
            [tuple(t.shape) for t in likelihood], [tuple(t.shape) for t in prior]
        )[0]
        spec = keras.KerasTensor(shape, dtype=self._working_dtype())
        return spec, keras.KerasTensor(shape, dtype=self._working_dtype())
