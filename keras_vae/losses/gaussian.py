"""Diagonal-Gaussian log-density and KL, the terms the bounds are built from."""

import math

from keras import ops

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def log_normal(z, loc, scale):
    """log N(z; loc, diag(scale^2)), summed over the last axis.

    ```none
    log N(z; mu, sigma^2) = sum_d [ -((z_d - mu_d) / sigma_d)^2 / 2 - log sigma_d - log(2 pi) / 2 ]
    ```

    The log q(z | x) - log p(z) terms of a Monte Carlo KL, or of the IWAE
    log weights, of a Gaussian posterior.

    Args:
        z: Points, shape `(..., d)`; broadcasts against `loc` and `scale`
            (e.g. `(k, batch, d)` samples against `(batch, d)` parameters).
        loc: Means, `(..., d)`.
        scale: Positive standard deviations, `(..., d)`.

    Returns:
        A tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> import keras_vae
    >>> value = keras_vae.losses.log_normal(np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2)))
    >>> print(round(float(value[0]), 4))  # -log(2 pi)
    -1.8379
    """
    z, loc, scale = (ops.convert_to_tensor(t) for t in (z, loc, scale))
    u = (z - loc) / scale
    return ops.sum(-0.5 * ops.square(u) - ops.log(scale) - _HALF_LOG_TWO_PI, axis=-1)


def kl_normal(q, p):
    """Closed-form KL(N(q_loc, q_scale^2) || N(p_loc, p_scale^2)), summed over the last axis.

    ```none
    KL = sum_d [ ((mu_q - mu_p) / sigma_p)^2 / 2 + (r^2 - 1) / 2 - log r ],  r = sigma_q / sigma_p
    ```

    `r^2 - 1` is computed as `expm1(2 log r)`, exact when the two scales
    are close (the KL of a posterior near its prior).

    Args:
        q: `(loc, scale)` of the first Gaussian, each `(..., d)`.
        p: `(loc, scale)` of the second, broadcasting against `q`.

    Returns:
        A tensor of shape `(...)`.

    Example:

    >>> import numpy as np
    >>> import keras_vae
    >>> q = (np.ones((1, 1)), np.ones((1, 1)))
    >>> p = (np.zeros((1, 1)), np.ones((1, 1)))
    >>> print(float(keras_vae.losses.kl_normal(q, p)[0]))  # (1 - 0)^2 / 2
    0.5
    """
    q_loc, q_scale = (ops.convert_to_tensor(t) for t in q)
    p_loc, p_scale = (ops.convert_to_tensor(t) for t in p)
    log_r = ops.log(q_scale) - ops.log(p_scale)
    kl = 0.5 * ops.square((q_loc - p_loc) / p_scale) + 0.5 * ops.expm1(2.0 * log_r) - log_r
    return ops.sum(kl, axis=-1)
