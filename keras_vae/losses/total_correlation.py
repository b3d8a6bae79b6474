"""Minibatch estimates of log q(z) and the total correlation of the aggregate posterior."""

import math

from keras import ops

from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)

ESTIMATORS = ("mws", "stratified")


def minibatch_log_q(z, loc, scale, dataset_size, estimator="mws"):
    """Minibatch estimates of log q(z_i) and of each marginal log q(z_id).

    The aggregate posterior of a dataset of N examples is the mixture
    q(z) = (1/N) sum_n q(z | x_n); its d marginals are q(z_d) = (1/N)
    sum_n q(z_d | x_n). For a batch of M examples with z_i ~ q(z | x_i),
    both are estimated from the M posteriors of the batch:

    ```none
    log q(z_i)    ~= logsumexp_j [ log q(z_i | x_j)    + log w_ij ]
    log q(z_id)   ~= logsumexp_j [ log q(z_id | x_j)   + log w_ij ]
    "mws":         w_ij = 1 / (N M)                         (Chen et al. 2018, App. C.1)
    "stratified":  w_ii = 1 / N,  w_ij = (N - 1) / (N (M - 1))   for j != i
    ```

    Minibatch weighted sampling (`"mws"`) is the estimator of the
    beta-TC-VAE paper. Its weights do not sum to one (to 1/N): compared with
    the batch mixture (1/M) sum_j q(z_i | x_j) every log density is offset
    by -log N, a constant, so the gradients are those of the batch mixture
    but the values are not (it shifts the total correlation by
    (d - 1) log N, see `total_correlation`). `"stratified"` keeps the
    example's own posterior at its dataset weight 1/N and spreads the rest
    of the mass over the other M - 1 examples, draws from the data: an
    unbiased estimate of q(z_i) itself (its log is consistent), exact when
    the batch is the whole dataset (M = N). It needs M >= 2.

    Args:
        z: Samples, `(M, d)`, z_i drawn from q(z | x_i).
        loc: Posterior means of the batch, `(M, d)`.
        scale: Posterior standard deviations, `(M, d)`, positive.
        dataset_size: Positive integer N, the number of training examples.
        estimator: `"mws"` (the default) or `"stratified"`.

    Returns:
        A pair `(log_q_z, log_q_marginals)` of shapes `(M,)` and `(M, d)`.

    Example:

    >>> import numpy as np
    >>> z = np.zeros((2, 3), "float32")
    >>> log_q_z, log_q_d = keras_vae.losses.minibatch_log_q(z, z, np.ones_like(z), 2, "stratified")
    >>> tuple(log_q_z.shape), tuple(log_q_d.shape)
    ((2,), (2, 3))

    Reference:
        - [Chen et al., 2018](https://arxiv.org/abs/1802.04942), Sec. 4.1
          and Appendix C.1.
    """
    check_one_of(estimator, "estimator", ESTIMATORS)
    n = float(check_positive_int(dataset_size, "dataset_size"))
    z, loc, scale = (ops.convert_to_tensor(t, "float32") for t in (z, loc, scale))
    # log q(z_id | x_j) for every pair (i, j): (M, M, d).
    u = (z[:, None, :] - loc[None, :, :]) / scale[None, :, :]
    pairs = -0.5 * ops.square(u) - ops.log(scale)[None, :, :] - _HALF_LOG_TWO_PI
    m = ops.cast(ops.shape(z)[0], "float32")
    if estimator == "mws":
        log_w = -ops.log(n * m) * ops.ones_like(pairs[..., 0])
    else:
        index = ops.arange(ops.shape(z)[0])
        own = ops.equal(index[:, None], index[None, :])
        other = ops.log((n - 1.0) / (n * (m - 1.0)))
        log_w = ops.where(own, -math.log(n), other)
    log_q_z = ops.logsumexp(ops.sum(pairs, axis=-1) + log_w, axis=1)
    log_q_marginals = ops.logsumexp(pairs + log_w[..., None], axis=1)
    return log_q_z, log_q_marginals


def total_correlation(z, loc, scale, dataset_size, estimator="mws"):
    """Per-example estimate of the total correlation of the aggregate posterior.

    ```none
    TC = KL( q(z) || prod_d q(z_d) ) = E_q(z)[ log q(z) - sum_d log q(z_d) ]
    TC_i ~= log q(z_i) - sum_d log q(z_id)          (`minibatch_log_q`)
    ```

    The batch mean of the returned values estimates TC. With
    `estimator="mws"` it is offset by about (d - 1) log N (the -log(NM)
    normaliser enters once in log q(z) and d times in the marginals); the
    offset is a constant, so it leaves the gradient of a beta-TC-VAE
    unchanged. `"stratified"` estimates TC itself. For a Gaussian
    q(z) = N(0, Sigma) the exact value is -1/2 log det R, R the correlation
    matrix of Sigma.

    Args:
        z: Samples, `(M, d)`, z_i drawn from q(z | x_i).
        loc: Posterior means, `(M, d)`.
        scale: Posterior standard deviations, `(M, d)`.
        dataset_size: Positive integer N.
        estimator: `"mws"` or `"stratified"` (see `minibatch_log_q`).

    Returns:
        A tensor of shape `(M,)`.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> loc = 0.8 * rng.normal(size=(1000, 2)).astype("float32")
    >>> scale = np.full_like(loc, 0.6)  # q(z) ~ N(0, I): independent coordinates
    >>> z = loc + scale * rng.normal(size=loc.shape).astype("float32")
    >>> tc = keras_vae.losses.total_correlation(z, loc, scale, 1000, "stratified")
    >>> abs(float(np.mean(tc))) < 0.05  # the batch is the dataset: TC ~ 0
    True
    """
    log_q_z, log_q_marginals = minibatch_log_q(z, loc, scale, dataset_size, estimator)
    return log_q_z - ops.sum(log_q_marginals, axis=-1)
