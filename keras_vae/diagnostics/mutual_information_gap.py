"""The mutual information gap (MIG) of Chen et al. (2018)."""

import typing

import numpy as np

from keras_vae.diagnostics.factor_codes import check_latents_and_factors
from keras_vae.diagnostics.factor_codes import discrete_mutual_information
from keras_vae.diagnostics.factor_codes import discretize
from keras_vae.diagnostics.factor_codes import entropy
from keras_vae.utils.validation import check_positive_int


class MIGResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.mutual_information_gap`.

    Attributes:
        score: The MIG, the mean of `gaps`; in [0, 1].
        gaps: Float64 array `(K,)`, each factor's normalized gap.
        mutual_information: Float64 array `(d, K)`, I(z_j; v_k) in nats of
            the discretized latents.
        factor_entropy: Float64 array `(K,)`, H(v_k) in nats.
    """

    score: float
    gaps: np.ndarray
    mutual_information: np.ndarray
    factor_entropy: np.ndarray


def mutual_information_gap(latents, factors, num_bins=20):
    """Mutual information gap between latent codes and ground-truth factors.

    ```none
    MIG = (1/K) sum_k [ I(z_(1); v_k) - I(z_(2); v_k) ] / H(v_k)
    ```

    where z_(1), z_(2) are the two latents with the largest mutual
    information with factor v_k. Each latent is discretized into `num_bins`
    equal-width bins over its range and I, H are the plug-in (histogram)
    estimates in nats, as in `disentanglement_lib`. A factor coded by one
    latent alone scores 1; one spread over several latents, or coded by
    none, scores near 0. Factors are discrete labels (any values; only their
    equality counts). Factors of zero entropy (constant) are left out of
    the mean.

    Args:
        latents: Array `(n, d)`, d >= 2: one code per example, usually the
            posterior means (`model.encode(x)[0]`).
        factors: Array `(n, K)` of discrete factor labels.
        num_bins: Positive integer, bins per latent. Defaults to 20.

    Returns:
        A `MIGResult`.

    Example:

    >>> import numpy as np
    >>> factors = np.random.default_rng(0).integers(0, 5, size=(2000, 2))
    >>> result = keras_vae.diagnostics.mutual_information_gap(factors, factors)
    >>> result.score > 0.99  # each factor is a latent of its own
    True

    Reference:
        - [Chen et al., 2018](https://arxiv.org/abs/1802.04942), Sec. 5.
    """
    latents, codes = check_latents_and_factors(latents, factors, min_latents=2)
    num_bins = check_positive_int(num_bins, "num_bins")
    binned = discretize(latents, num_bins)
    d, k = latents.shape[1], codes.shape[1]
    mi = np.array(
        [
            [discrete_mutual_information(binned[:, j], codes[:, f]) for f in range(k)]
            for j in range(d)
        ]
    )
    h = np.array([entropy(codes[:, f]) for f in range(k)])
    top = -np.sort(-mi, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = np.where(h > 0, (top[0] - top[1]) / h, np.nan)
    score = float(np.nanmean(gaps)) if np.any(h > 0) else float("nan")
    return MIGResult(score, gaps, mi, h)
