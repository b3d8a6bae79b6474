"""Kernel distance (KID): unbiased MMD^2 with a cubic polynomial kernel."""

import typing

import numpy as np

from keras_vae.diagnostics.feature_sets import feature_pair
from keras_vae.utils.validation import check_positive_int


class KernelDistanceResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.kernel_distance`.

    Attributes:
        mean: Mean of the unbiased MMD^2 estimates over subsets (KID).
        std: Their standard deviation over subsets (`ddof=0`).
        num_subsets: The number of subsets.
        subset_size: Examples of each set per subset.
    """

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def polynomial_kernel(x, y):
    """k(x, y) = (x . y / d + 1)^3 for all pairs of rows, `(n_x, n_y)`."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(a, b):
    """Unbiased MMD^2 of two equal-size samples under `polynomial_kernel`."""
    m = a.shape[0]
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return within - 2.0 * k_ab.sum() / (m * m)


def kernel_distance(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception distance: unbiased MMD^2, averaged over random subsets.

    ```none
    k(x, y) = (x . y / d + 1)^3
    MMD^2_u = 1/(m(m-1)) sum_{i!=j} [k(a_i, a_j) + k(b_i, b_j)] - 2/m^2 sum_{i,j} k(a_i, b_j)
    KID     = mean over num_subsets subsets of MMD^2_u,
              each subset m = min(subset_size, n_a, n_b) rows of each set, without replacement
    ```

    Bińkowski et al. (2018): unlike the Fréchet distance, the estimate is
    unbiased for any number of examples (its expectation is the population
    MMD^2, which is 0 for equal distributions), so figures at different
    sample sizes compare; a single estimate can be negative. The subsets
    bound the cost (O(m^2 d) each) and their spread gives `std`. The
    subsets are drawn with a numpy generator seeded by `seed`.

    Args:
        features_a: Matrix `(n_a, d)`, n_a >= 2.
        features_b: Matrix `(n_b, d)`, n_b >= 2.
        num_subsets: Positive integer. Defaults to 100.
        subset_size: Positive integer >= 2, rows of each set per subset
            (capped at the smaller set). Defaults to 1000.
        seed: Integer seed of the subsets. Defaults to 0.

    Returns:
        A `KernelDistanceResult(mean, std, num_subsets, subset_size)`.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    >>> same = keras_vae.diagnostics.kernel_distance(a, b, num_subsets=10, subset_size=200)
    >>> far = keras_vae.diagnostics.kernel_distance(a, b + 2.0, num_subsets=10, subset_size=200)
    >>> abs(same.mean) < 0.05 < far.mean
    True

    Reference:
        - [Bińkowski et al., 2018](https://arxiv.org/abs/1801.01401)
        - [Gretton et al., 2012](https://jmlr.org/papers/v13/gretton12a.html)
    """
    a, b = feature_pair(features_a, features_b, min_rows=2)
    num_subsets = check_positive_int(num_subsets, "num_subsets")
    subset_size = check_positive_int(subset_size, "subset_size")
    if subset_size < 2:
        raise ValueError(
            f"Expected `subset_size` to be at least 2. Received: subset_size={subset_size}"
        )
    m = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            unbiased_mmd2(
                a[rng.choice(a.shape[0], m, replace=False)],
                b[rng.choice(b.shape[0], m, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return KernelDistanceResult(
        mean=float(values.mean()),
        std=float(values.std()),
        num_subsets=num_subsets,
        subset_size=m,
    )
