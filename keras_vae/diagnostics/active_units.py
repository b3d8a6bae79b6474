"""Active latent units (Burda et al., 2016, Sec. 5.2)."""

import typing

import numpy as np
from keras import ops

from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.utils.validation import check_method
from keras_vae.utils.validation import check_non_negative_float
from keras_vae.utils.validation import check_positive_int


class ActiveUnitsResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.active_units` for one latent layer.

    Attributes:
        num_active: Number of units whose activity exceeds the threshold.
        variances: Float64 numpy array with the shape of one latent vector:
            the activity Var_x(E_q[z_u | x]) of every unit.
        active: Boolean numpy array, `variances > threshold`.
    """

    num_active: int
    variances: np.ndarray
    active: np.ndarray


class _RunningMoments:
    """Streaming mean and variance in float64 (Chan et al.'s parallel merge).

    Merging the moments of each batch into the running ones gives the same
    result as a two-pass computation over all the data, whatever the batch
    size, without the cancellation of the naive E[x^2] - E[x]^2.
    """

    def __init__(self):
        self.count = 0
        self.mean = None
        self.m2 = None  # sum of squared deviations from the mean

    def update(self, batch):
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mean_b = batch.mean(axis=0)
        m2_b = np.sum((batch - mean_b) ** 2, axis=0)
        if self.count == 0:
            self.count, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        if batch.shape[1:] != self.mean.shape:
            raise ValueError(
                "Expected posterior means of the same shape in every batch. "
                f"Received: {batch.shape[1:]} after {self.mean.shape}"
            )
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / total)
        self.count = total

    def variance(self):
        return self.m2 / self.count


def active_units(model, data, threshold=0.01, batch_size=100):
    """Count the latent units a model actually uses.

    ```none
    A_u = Cov_x( E_{q(z | x)}[z_u] )       (variance over the data of the
                                            posterior mean of unit u)
    unit u is active  <=>  A_u > threshold   (Burda et al. use 0.01)
    ```

    An inactive unit has a posterior mean that does not depend on x: it
    carries no information about the data (posterior collapse). The variance
    is streamed over batches in float64 with a parallel merge, so the result
    does not depend on `batch_size`. It is the population variance (divided
    by N, like `np.var`).

    Args:
        model: A model with an `encode(x)` method returning the posterior
            `(loc, scale)` of a batch, e.g. `keras_vae.models.VAE`, or a list
            of `(loc, scale)` pairs, one per latent layer (hierarchical
            models).
        data: A numpy array or tensor of examples, or a `tf.data.Dataset`,
            batched or not, whose elements are `x` or tuples `(x, ...)`.
        threshold: Non-negative float, the activity above which a unit is
            active. Defaults to `0.01`.
        batch_size: Positive integer, examples per call of `model.encode`.
            Defaults to 100.

    Returns:
        An `ActiveUnitsResult(num_active, variances, active)` if `encode`
        returns one `(loc, scale)` pair, else a list of them, one per latent
        layer in the order `encode` returns them.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0)
    >>> result = keras_vae.diagnostics.active_units(vae, x_test)
    >>> print(f"{vae.latent_dim} units, {result.num_active} active")
    4 units, ... active

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    check_method(
        model,
        "encode",
        "to have an `encode(x)` method returning the posterior `(loc, scale)`, "
        "like `keras_vae.models.VAE`",
    )
    threshold = check_non_negative_float(threshold, "threshold")
    batch_size = check_positive_int(batch_size, "batch_size")

    moments, single, unit_shapes = None, None, None
    for x in host_batches(data, batch_size, example_rank(model)):
        layers, is_single = _posterior_means(model.encode(x))
        if moments is None:
            moments, single = [_RunningMoments() for _ in layers], is_single
            unit_shapes = [loc.shape[1:] for loc in layers]
        elif len(layers) != len(moments):
            raise ValueError(
                "Expected `model.encode` to return the same number of latent "
                f"layers for every batch. Received: {len(layers)} after "
                f"{len(moments)}"
            )
        for running, loc in zip(moments, layers):
            running.update(loc.reshape(loc.shape[0], -1))

    results = []
    for running, unit_shape in zip(moments, unit_shapes):
        variances = running.variance().reshape(unit_shape)
        active = variances > threshold
        results.append(
            ActiveUnitsResult(
                num_active=int(np.count_nonzero(active)),
                variances=variances,
                active=active,
            )
        )
    return results[0] if single else results


def _posterior_means(encoded):
    """Posterior means as float64 arrays, and whether there is one layer."""
    if _is_pair(encoded):
        return [_as_float64(encoded[0])], True
    if isinstance(encoded, (list, tuple)) and encoded and all(_is_pair(p) for p in encoded):
        return [_as_float64(p[0]) for p in encoded], False
    raise TypeError(
        "Expected `model.encode(x)` to return a `(loc, scale)` pair of "
        "tensors or a list of such pairs (one per latent layer). Received: "
        f"{type(encoded).__name__}"
    )


def _is_pair(value):
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(ops.is_tensor(v) or isinstance(v, np.ndarray) for v in value)
    )


def _as_float64(loc):
    loc = np.asarray(ops.convert_to_numpy(loc), dtype="float64")
    if loc.ndim < 2:
        raise ValueError(
            f"Expected posterior means of shape (batch, ...units). Received: shape {loc.shape}"
        )
    return loc
