"""The separated attribute predictability (SAP) score of Kumar et al. (2018)."""

import typing

import numpy as np

from keras_vae.diagnostics.factor_codes import check_latents_and_factors


class SAPResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.sap_score`.

    Attributes:
        score: The SAP score, the mean of `gaps`; in [0, 1].
        gaps: Float64 array `(K,)`, each factor's gap.
        predictability: Float64 array `(d, K)`, S_jk = R^2 of v_k regressed
            on z_j alone.
    """

    score: float
    gaps: np.ndarray
    predictability: np.ndarray


def sap_score(latents, factors):
    """Separated attribute predictability of latent codes.

    ```none
    S_jk = corr(z_j, v_k)^2            (R^2 of a linear regression of v_k on z_j)
    SAP  = (1/K) sum_k [ S_(1)k - S_(2)k ]
    ```

    with S_(1)k, S_(2)k the two largest scores of factor k over the
    latents. This is Kumar et al.'s score for continuous factors, applied
    to every factor: the factor's value indices are taken as numbers, so a
    categorical factor (a shape) counts as ordinal, and a latent that codes
    it non-monotonically is underrated (Kumar et al. score categorical
    factors with a classifier instead). A constant latent or factor scores
    0.

    Args:
        latents: Array `(n, d)`, d >= 2, e.g. posterior means.
        factors: Array `(n, K)` of factor values (numbers).

    Returns:
        A `SAPResult`.

    Example:

    >>> import numpy as np
    >>> factors = np.random.default_rng(0).integers(0, 4, size=(1000, 2))
    >>> keras_vae.diagnostics.sap_score(factors, factors).score > 0.95
    True

    Reference:
        - [Kumar et al., 2018](https://arxiv.org/abs/1711.00848), Sec. 3.
    """
    latents, _ = check_latents_and_factors(latents, factors, min_latents=2)
    values = np.asarray(factors, dtype="float64")
    z = latents - latents.mean(axis=0)
    v = values - values.mean(axis=0)
    cov = z.T @ v
    norm = np.outer(np.sqrt(np.sum(z**2, axis=0)), np.sqrt(np.sum(v**2, axis=0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(norm > 0, np.square(cov / norm), 0.0)
    top = -np.sort(-s, axis=0)
    gaps = top[0] - top[1]
    return SAPResult(float(gaps.mean()), gaps, s)
