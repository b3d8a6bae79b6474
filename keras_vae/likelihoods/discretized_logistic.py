"""Discretized logistic observation model for 8-bit intensities in [0, 1]."""

import keras
from keras import ops

from keras_vae.likelihoods.likelihood import Likelihood
from keras_vae.utils import random
from keras_vae.utils.validation import check_positive_int

# Thresholds per chunk when summing survival probabilities in `mean`: bounds
# the broadcast to 32 copies of the data instead of `num_bins - 1`.
_MEAN_CHUNK = 32


def _log_sigmoid(t):
    return -ops.softplus(-t)


@keras.saving.register_keras_serializable(package="keras_vae")
class DiscretizedLogistic(Likelihood):
    """Logistic distribution discretized to `num_bins` levels on [0, 1].

    The decoder outputs a location mu and a log-scale per channel; each
    intensity is one of the bin centres c_k = k / (B - 1), k = 0 .. B-1, with
    the probability mass of a logistic over its bin, the two outer bins
    extended to -inf and +inf (PixelCNN++, one logistic per pixel):

    ```none
    delta = 1 / (2 (B - 1)),  s = exp(clip(log_s, min_log_scale, max_log_scale))
    a = (c_k + delta - mu) / s,   b = (c_k - delta - mu) / s
    P(x = c_0)     = sigmoid(a)
    P(x = c_{B-1}) = 1 - sigmoid(b)
    P(x = c_k)     = sigmoid(a) - sigmoid(b)
                   = sigmoid(a) sigmoid(-b) (1 - exp(-(a - b)))   0 < k < B-1
    ```

    The last form is evaluated in log space, log sigmoid(a) + log sigmoid(-b)
    + log(-expm1(-2 delta / s)), so it neither cancels nor underflows when
    both sigmoids are in a tail: log-probabilities are float32 and finite for
    any mu and clamped log-scale. Inputs are snapped to the nearest bin
    centre (round(x (B - 1)) / (B - 1)); pass data scaled as x = level / 255
    (`support = (0.0, 1.0)`: models refuse data outside [0, 1]). Grey levels
    are not binary data (`binary = False`): models refuse
    `dynamic_binarization=True` with this likelihood.

    `params` has twice the channels of x: the first half is mu, the second
    half log s (`params_per_channel = 2`). The mean is exact,
    E[x] = (1 / (B - 1)) sum_{k<B-1} P(x > c_k) with P(x > c_k) =
    sigmoid((mu - c_k - delta) / s).

    Args:
        num_bins: Integer B >= 2, the number of intensity levels. Defaults to
            256 (8-bit images).
        min_log_scale: Lower clamp of the log-scale. Defaults to -7.
        max_log_scale: Upper clamp of the log-scale. Defaults to 2.
        seed: Optional integer seed of `sample`.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        params: Decoder outputs of shape `(..., 2 C)`. Returns the mean, of
            shape `(..., C)`.

    Example:

    >>> lik = keras_vae.likelihoods.DiscretizedLogistic()
    >>> params = np.zeros((2, 28, 28, 2), "float32")   # mu = 0, s = 1
    >>> lik.log_prob(np.zeros((2, 28, 28, 1), "float32"), params).shape
    TensorShape([2])

    Reference:
        - [Salimans et al., 2017](https://arxiv.org/abs/1701.05517) (PixelCNN++)
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """

    params_per_channel = 2
    support = (0.0, 1.0)
    binary = False

    def __init__(self, num_bins=256, min_log_scale=-7.0, max_log_scale=2.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.num_bins = check_positive_int(num_bins, "num_bins")
        if self.num_bins < 2:
            raise ValueError(
                f"Expected `num_bins` to be an integer >= 2. Received: num_bins={num_bins!r}"
            )
        if not float(min_log_scale) < float(max_log_scale):
            raise ValueError(
                "Expected `min_log_scale` < `max_log_scale`. Received: "
                f"min_log_scale={min_log_scale!r}, max_log_scale={max_log_scale!r}"
            )
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)

    def _split(self, params):
        params = ops.cast(params, "float32")
        channels = params.shape[-1]
        if channels is None or channels % 2:
            raise ValueError(
                "Expected `params` with an even number of channels (location "
                f"and log-scale per channel). Received: params.shape={tuple(params.shape)}"
            )
        loc, log_scale = ops.split(params, 2, axis=-1)
        log_scale = ops.clip(log_scale, self.min_log_scale, self.max_log_scale)
        return loc, log_scale

    def _log_prob_elementwise(self, x, params):
        loc, log_scale = self._split(params)
        if x.shape[-1] != loc.shape[-1]:
            raise ValueError(
                f"Expected `params` with 2 x {x.shape[-1]} channels for x with "
                f"{x.shape[-1]}. Received: {2 * loc.shape[-1]} channels"
            )
        top = float(self.num_bins - 1)
        half = 0.5 / top
        level = ops.clip(ops.round(x * top), 0.0, top)
        centre = level / top
        inv_scale = ops.exp(-log_scale)
        a = (centre + half - loc) * inv_scale
        b = (centre - half - loc) * inv_scale
        # log(1 - exp(-(a - b))) with a - b = 2 delta / s > 0.
        log_width = ops.log(-ops.expm1(-2.0 * half * inv_scale))
        interior = _log_sigmoid(a) + _log_sigmoid(-b) + log_width
        first = _log_sigmoid(a)
        last = _log_sigmoid(-b)
        return ops.where(level < 0.5, first, ops.where(level > top - 0.5, last, interior))

    def mean(self, params):
        loc, log_scale = self._split(params)
        inv_scale = ops.exp(-log_scale)[..., None]
        top = self.num_bins - 1
        total = ops.zeros_like(loc)
        for start in range(0, top, _MEAN_CHUNK):
            k = ops.arange(start, min(start + _MEAN_CHUNK, top), dtype="float32")
            upper = (k + 0.5) / top  # upper edges of bins 0 .. B-2
            total = total + ops.sum(ops.sigmoid((loc[..., None] - upper) * inv_scale), -1)
        return total / top

    def sample(self, params, seed=None):
        loc, log_scale = self._split(params)
        u = random.uniform(ops.shape(loc), seed=seed or self.seed_generator)
        u = ops.clip(u, 1e-6, 1.0 - 1e-6)
        x = loc + ops.exp(log_scale) * (ops.log(u) - ops.log1p(-u))
        top = float(self.num_bins - 1)
        return ops.clip(ops.round(x * top), 0.0, top) / top

    def compute_output_shape(self, params_shape):
        params_shape = tuple(params_shape)
        last = params_shape[-1]
        return params_shape[:-1] + (None if last is None else last // 2,)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "min_log_scale": self.min_log_scale,
            "max_log_scale": self.max_log_scale,
        }
