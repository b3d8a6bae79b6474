"""Gradient estimators of the IWAE bound: standard, STL and DReG."""

import keras
from keras import ops

from keras_vae.losses.bounds import log_mean_exp

GRADIENT_ESTIMATORS = ("standard", "stl", "dreg")


def iwae_objective(log_weight_fn, loc, scale, eps, estimator="standard"):
    """IWAE bound with a choice of reparameterized gradient estimator.

    The k samples z_i = loc + scale * eps_i of a diagonal Gaussian q(z | x)
    give log weights log w_i = log p(x, z_i) - log q(z_i | x) and the bound

    ```none
    L_k(x) = log (1/k) sum_i w_i,        w~_i = w_i / sum_j w_j.
    ```

    All three estimators return a `surrogate` whose value is L_k itself (so
    the reported loss is the bound); they differ in its gradient. With theta
    the parameters that enter log p(x, z) directly (decoder, prior) and phi
    the parameters of q (through `loc` and `scale`):

    ```none
    standard (Burda et al.):  d/dtheta = sum_i w~_i d log w_i / dtheta
                              d/dphi   = sum_i w~_i (dlog w_i/dz_i dz_i/dphi
                                                     - dlog q(z_i)/dphi)
    stl (Roeder et al.):      d/dphi   = sum_i w~_i dlog w_i/dz_i dz_i/dphi
    dreg (Tucker et al.):     d/dphi   = sum_i w~_i^2 dlog w_i/dz_i dz_i/dphi
    ```

    and the same theta-gradient in all three. The standard and DReG
    gradients are unbiased for the gradient of E[L_k]: the score term
    E[sum_i w~_i dlog q(z_i)/dphi] equals E[sum_i (w~_i - w~_i^2)
    dlog w_i/dz_i dz_i/dphi] by reparameterizing it once more (Tucker et al.,
    eq. 5-8), which turns the standard phi-gradient into DReG's. Sticking the
    landing drops the score term: it is unbiased for k = 1 (the score has mean
    zero) and biased for k > 1, where it has zero variance at q = p(z | x).
    For k = 1, DReG is STL.

    They are implemented as:

    - standard: `log_weight_fn(z, loc, scale)`, surrogate = L_k.
    - stl: `log_weight_fn(z, stop(loc), stop(scale))`: the parameters of
      log q are held constant, the path through z stays; surrogate = L_k.
    - dreg: q's parameters held as in stl, `w~ = stop(softmax(log w))` from
      a first, gradient-free evaluation, then
      `z' = stop(z) + (z - stop(z)) * w~` (value z, path gradient scaled by
      w~) and `surrogate = stop(L_k) + s - stop(s)` with
      `s = sum_i w~_i log w_i(z')`. DReG evaluates `log_weight_fn` twice
      (the first time without gradient).

    `log_weight_fn` must compute log q from the `q_loc`, `q_scale` it
    receives (not from `loc`, `scale` captured elsewhere), or STL and DReG
    silently become the standard estimator. Parameters that enter log p
    (a VampPrior's pseudo-inputs, even an encoder shared with the prior) are
    theta-parameters and get theta's gradient, as the derivation requires.
    A model may weight the KL part by beta inside `log_weight_fn`; the
    estimators then apply to that weighted objective.

    Log weights are computed in at least float32 (16-bit log weights from a
    `bfloat16`/`float16` network are cast up, float64 stays float64), so
    the function runs under mixed precision and inside XLA-compiled steps.

    Args:
        log_weight_fn: Callable `(z, q_loc, q_scale) -> log_weights` that
            returns log p(x, z) - log q(z; q_loc, q_scale) with shape
            `(k, batch)` for `z` of shape `(k, batch, ...)`.
        loc: Mean of q, shape `(batch, ...)` (or any shape that broadcasts
            to `eps`'s shape without changing it).
        scale: Standard deviation of q, shaped like `loc`.
        eps: Standard normal noise of shape `(k, batch, d, ...)`, the
            sample axis first.
        estimator: One of `"standard"`, `"stl"`, `"dreg"`.

    Returns:
        A tuple `(surrogate, bound)`, both of shape `(batch,)`: `surrogate`
        has the value of L_k and the chosen estimator's gradient (minimize
        `-mean(surrogate)`); `bound` is L_k without gradient, for metrics.

    Example:

    >>> from keras import ops
    >>> def log_weight_fn(z, q_loc, q_scale):  # p(z) = N(0, 1), no data
    ...     log_p = -0.5 * ops.sum(z**2, axis=-1)
    ...     log_q = -0.5 * ops.sum(((z - q_loc) / q_scale) ** 2, axis=-1)
    ...     return log_p - log_q + ops.sum(ops.log(q_scale), axis=-1)
    >>> loc, scale = np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")
    >>> eps = np.random.default_rng(0).normal(size=(5, 2, 3)).astype("float32")
    >>> surrogate, bound = keras_vae.losses.iwae_objective(
    ...     log_weight_fn, loc, scale, eps, estimator="dreg")
    >>> [float(b) for b in bound]  # q = p: every log weight is 0
    [0.0, 0.0]

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
        - [Roeder et al., 2017](https://arxiv.org/abs/1703.09194)
        - [Tucker et al., 2018](https://arxiv.org/abs/1810.04152)
    """
    if estimator not in GRADIENT_ESTIMATORS:
        raise ValueError(
            f"Expected `estimator` to be one of {GRADIENT_ESTIMATORS}. "
            f"Received: estimator={estimator!r}"
        )
    loc = ops.convert_to_tensor(loc)
    scale = ops.convert_to_tensor(scale, dtype=loc.dtype)
    eps = ops.convert_to_tensor(eps, dtype=loc.dtype)
    _check_broadcasts(eps, loc, "loc")
    _check_broadcasts(eps, scale, "scale")
    z = loc + scale * eps

    def log_weights(z, q_loc, q_scale):
        log_w = _at_least_float32(log_weight_fn(z, q_loc, q_scale))
        _check_log_weights(log_w, eps)
        return log_w

    if estimator == "standard":
        surrogate = log_mean_exp(log_weights(z, loc, scale), axis=0)
        return surrogate, ops.stop_gradient(surrogate)
    q_loc, q_scale = ops.stop_gradient(loc), ops.stop_gradient(scale)
    if estimator == "stl":
        surrogate = log_mean_exp(log_weights(z, q_loc, q_scale), axis=0)
        return surrogate, ops.stop_gradient(surrogate)
    z_const = ops.stop_gradient(z)
    log_w = ops.stop_gradient(log_weights(z_const, q_loc, q_scale))
    bound = log_mean_exp(log_w, axis=0)
    normalized = ops.exp(log_w - ops.logsumexp(log_w, axis=0, keepdims=True))
    # w~ of shape (k, batch, 1, ...): scales the path gradient of each z_i.
    path_weight = ops.cast(normalized, z.dtype)
    for _ in range(len(z.shape) - 2):
        path_weight = ops.expand_dims(path_weight, -1)
    z_scaled = z_const + (z - z_const) * path_weight
    weighted = ops.sum(normalized * log_weights(z_scaled, q_loc, q_scale), axis=0)
    surrogate = bound + weighted - ops.stop_gradient(weighted)
    return surrogate, bound


def _at_least_float32(x):
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        return ops.cast(x, "float32")
    return x


def _check_broadcasts(eps, param, name):
    eps_shape, shape = tuple(eps.shape), tuple(param.shape)
    fits = len(eps_shape) >= 3 and len(shape) <= len(eps_shape)
    for p, e in zip(reversed(shape), reversed(eps_shape)):
        fits = fits and (p in (1, None) or e is None or p == e)
    if not fits:
        raise ValueError(
            f"Expected `eps` of shape (k, batch, d, ...) with `{name}` broadcasting "
            f"to it without changing its shape. Received: eps.shape={eps_shape}, "
            f"{name}.shape={shape}"
        )


def _check_log_weights(log_w, eps):
    want = tuple(eps.shape[:2])
    got = tuple(log_w.shape)
    fits = len(got) == 2 and all(g is None or w is None or g == w for g, w in zip(got, want))
    if not fits:
        raise ValueError(
            f"Expected `log_weight_fn` to return log weights of shape (k, batch) = "
            f"{want}. Received: shape={got}"
        )
