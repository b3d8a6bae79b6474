"""Log-density of a mixture of diagonal Gaussians, computed by matmul."""

import math

from keras import ops


def diagonal_gaussian_mixture_log_prob(z, loc, scale, log_weights=None):
    """log sum_k pi_k N(z; loc_k, diag(scale_k^2)) for z of shape `(..., d)`.

    ```none
    log N(z; m_k, s_k^2) = -1/2 [ z^2 . s_k^-2  -  2 z . m_k s_k^-2  +  m_k^2 . s_k^-2 ]
                           - sum_d log s_kd  -  d/2 log 2 pi
    ```

    The quadratic form is expanded into two `(N, d) x (d, K)` matmuls, so no
    `(N, K, d)` tensor is formed: with K = 500 components and the thousands
    of samples of a likelihood estimate that tensor would take gigabytes.

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
    precision = 1.0 / ops.square(scale)
    quad = (
        ops.matmul(ops.square(flat), ops.transpose(precision))
        - 2.0 * ops.matmul(flat, ops.transpose(loc * precision))
        + ops.sum(ops.square(loc) * precision, axis=-1)
    )
    # Rounding can leave a tiny negative square distance; it is >= 0.
    quad = ops.maximum(quad, 0.0)
    log_norm = ops.sum(ops.log(scale), axis=-1) + 0.5 * dim * math.log(2.0 * math.pi)
    log_comp = -0.5 * quad - log_norm
    if log_weights is None:
        log_comp = log_comp - ops.log(ops.cast(ops.shape(loc)[0], "float32"))
    else:
        log_comp = log_comp + ops.cast(log_weights, "float32")
    return ops.reshape(ops.logsumexp(log_comp, axis=-1), lead)
