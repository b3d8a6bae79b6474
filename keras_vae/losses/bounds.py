"""Functional forms of the variational bounds."""

import math

from keras import ops


def elbo(reconstruction, kl, beta=1.0):
    """Evidence lower bound per example, with an optional KL weight.

    ```none
    ELBO_beta(x) = E_q[log p(x | z)] - beta * KL(q(z | x) || p(z))
    ```

    With `beta = 1` this is the ELBO of Kingma & Welling (2014), a lower
    bound on log p(x).

    Args:
        reconstruction: Estimates of E_q[log p(x|z)], shape `(batch,)` or
            `(num_samples, batch)` (averaged over the sample axis 0).
        kl: KL(q || p) per example, shape `(batch,)` or
            `(num_samples, batch)` (Monte Carlo terms, averaged likewise).
        beta: Weight of the KL term (float or scalar tensor).

    Returns:
        Tensor of shape `(batch,)`.

    Example:

    >>> float(keras_vae.losses.elbo(np.array([-90.0]), np.array([20.0]))[0])
    -110.0
    """
    if len(reconstruction.shape) == 2:
        reconstruction = ops.mean(reconstruction, axis=0)
    if len(kl.shape) == 2:
        kl = ops.mean(kl, axis=0)
    return reconstruction - beta * kl


def log_mean_exp(x, axis=0):
    """`log(mean(exp(x), axis))` computed stably by log-sum-exp."""
    return ops.logsumexp(x, axis=axis) - math.log(x.shape[axis])


def iwae_bound(log_weights, axis=0):
    """Importance weighted bound of Burda et al. (2016).

    ```none
    L_k(x) = log (1/k) sum_{i=1..k} w_i,   log w_i = log p(x, z_i) - log q(z_i | x)
    ```

    with z_i ~ q(z | x). L_1 is the ELBO; E[L_k] increases with k and tends
    to log p(x) (Burda et al., Theorem 1).

    Args:
        log_weights: Log importance weights with the k samples on `axis`.
        axis: The sample axis. Defaults to 0 (keras_vae's sample-first layout).

    Returns:
        The bound, with `axis` reduced.

    Example:

    >>> log_w = np.log(np.array([[1.0], [3.0]], "float32"))
    >>> float(keras_vae.losses.iwae_bound(log_w)[0])  # log((1 + 3) / 2)
    0.6931472

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    log_weights = ops.cast(log_weights, "float32")
    return log_mean_exp(log_weights, axis=axis)
