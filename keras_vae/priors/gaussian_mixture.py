"""Log-density of a mixture of diagonal Gaussians, computed by matmul."""

import math

from keras import ops


def gaussian_log_prob_weights(loc, scale):
    """Linear form of K diagonal Gaussian log-densities in the features [z², z].

    ```none
    log N(z; m_k, s_k^2) = [z^2, z] . w_k + b_k
    w_k = [-1/2 s_k^-2,  m_k s_k^-2]                              (2d,)
    b_k = -1/2 m_k^2 . s_k^-2 - sum_d log s_kd - d/2 log 2 pi
    ```

    So the `(N, K)` matrix of log-densities of N points is one
    `(N, 2d) x (2d, K)` matmul, and no `(N, K, d)` tensor is formed.

    Args:
        loc: Component means, shape `(K, d)` (a tensor or array, in the
            dtype the result should have).
        scale: Component standard deviations, shape `(K, d)`.

    Returns:
        `(weights, bias)` of shapes `(2d, K)` and `(K,)`.
    """
    dim = loc.shape[-1]
    precision = 1.0 / ops.square(scale)
    weights = ops.transpose(ops.concatenate([-0.5 * precision, loc * precision], axis=1))
    bias = (
        -0.5 * ops.sum(ops.square(loc) * precision, axis=1)
        - ops.sum(ops.log(scale), axis=1)
        - 0.5 * dim * math.log(2.0 * math.pi)
    )
    return weights, bias


def gaussian_log_prob_features(z):
    """The features `[z², z]` of points `(N, d)` for `gaussian_log_prob_weights`."""
    return ops.concatenate([ops.square(z), z], axis=-1)


def diagonal_gaussian_mixture_log_prob(z, loc, scale, log_weights=None):
    """log sum_k pi_k N(z; loc_k, diag(scale_k^2)) for z of shape `(..., d)`.

    ```none
    log N(z; m_k, s_k^2) = -1/2 [ z^2 . s_k^-2  -  2 z . m_k s_k^-2  +  m_k^2 . s_k^-2 ]
                           - sum_d log s_kd  -  d/2 log 2 pi
    ```

    The quadratic form is expanded (`gaussian_log_prob_weights`) into one
    `(N, 2d) x (2d, K)` matmul, so no `(N, K, d)` tensor is formed: with
    K = 500 components and the thousands of samples of a likelihood
    estimate that tensor would take gigabytes.

    Args:
        z: Points, shape `(..., d)`.
        loc: Component means, shape `(K, d)`.
        scale: Component standard deviations, shape `(K, d)`.
        log_weights: Optional normalized log mixture weights `(K,)`; uniform
            (`-log K`) if `None`.

    Returns:
        The log-density, shape `z.shape[:-1]`.
    """
    z = ops.cast(z, "float32")
    loc = ops.cast(loc, "float32")
    scale = ops.cast(scale, "float32")
    dim = z.shape[-1]
    lead = ops.shape(z)[:-1]
    flat = ops.reshape(z, (-1, dim))
    weights, bias = gaussian_log_prob_weights(loc, scale)
    log_comp = ops.matmul(gaussian_log_prob_features(flat), weights) + bias
    # Rounding can leave a tiny negative square distance; it is >= 0, so a
    # component's log-density is at most its value at the mean.
    peak = -ops.sum(ops.log(scale), axis=-1) - 0.5 * dim * math.log(2.0 * math.pi)
    log_comp = ops.minimum(log_comp, peak)
    if log_weights is None:
        log_comp = log_comp - ops.log(ops.cast(ops.shape(loc)[0], "float32"))
    else:
        log_comp = log_comp + ops.cast(log_weights, "float32")
    return ops.reshape(ops.logsumexp(log_comp, axis=-1), lead)
