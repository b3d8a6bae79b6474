"""Improved precision and recall of generated samples (k-NN manifolds)."""

import typing

import numpy as np

from keras_vae.diagnostics.feature_sets import feature_pair
from keras_vae.utils.validation import check_positive_int


class PrecisionRecallResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.precision_recall`.

    Attributes:
        precision: Fraction of generated examples inside the real manifold.
        recall: Fraction of real examples inside the generated manifold.
        k: The neighbour rank of the radii.
    """

    precision: float
    recall: float
    k: int


def squared_distances(x, y):
    """||x_i - y_j||^2 for all pairs of rows, `(n_x, n_y)`, clipped at 0."""
    d = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * x @ y.T
    return np.maximum(d, 0.0)


def knn_radii(x, k, batch_size):
    """Squared distance of each row of `x` to its k-th nearest other row."""
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        d = squared_distances(x[start : start + batch_size], x)
        # Index k, not k - 1: each row's nearest row is itself, at distance 0.
        radii[start : start + batch_size] = np.partition(d, k, axis=1)[:, k]
    return radii


def coverage(points, centers, radii, batch_size):
    """Fraction of `points` within `radii` of at least one of `centers`."""
    inside = 0
    for start in range(0, points.shape[0], batch_size):
        d = squared_distances(points[start : start + batch_size], centers)
        inside += int(np.any(d <= radii[None, :], axis=1).sum())
    return inside / points.shape[0]


def precision_recall(real_features, generated_features, k=3, batch_size=1000):
    """Improved precision and recall of Kynkäänniemi et al. (2019).

    ```none
    r_k(f, S)        = distance from f to its k-th nearest neighbour in S \\ {f}
    manifold(S)      = union over f in S of the ball B(f, r_k(f, S))
    precision        = (1/|G|) sum_{g in G} 1[g in manifold(R)]
    recall           = (1/|R|) sum_{r in R} 1[r in manifold(G)]
    ```

    R are the real and G the generated features. Precision is the share of
    samples that look like data (quality), recall the share of the data the
    samples cover (diversity); FID and KID mix the two. Distances are
    Euclidean in feature space, computed in blocks of `batch_size` rows
    (memory O(batch_size * n)). The paper uses k = 3 and equal set sizes.

    Args:
        real_features: Matrix `(n_r, d)`, n_r > k.
        generated_features: Matrix `(n_g, d)`, n_g > k.
        k: Positive integer, the neighbour rank of the radii. Defaults to 3.
        batch_size: Positive integer, rows per block of distances.
            Defaults to 1000.

    Returns:
        A `PrecisionRecallResult(precision, recall, k)`, fractions in [0, 1].

    Example:

    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 2))
    >>> collapsed = 0.1 * rng.normal(size=(500, 2))  # a mode-collapsed model
    >>> result = keras_vae.diagnostics.precision_recall(real, collapsed)
    >>> result.precision > 0.9, result.recall < 0.3  # good samples, poor coverage
    (True, True)

    Reference:
        - [Kynkäänniemi et al., 2019](https://arxiv.org/abs/1904.06991)
    """
    k = check_positive_int(k, "k")
    batch_size = check_positive_int(batch_size, "batch_size")
    real, fake = feature_pair(
        real_features, generated_features, ("real_features", "generated_features"), k + 1
    )
    precision = coverage(fake, real, knn_radii(real, k, batch_size), batch_size)
    recall = coverage(real, fake, knn_radii(fake, k, batch_size), batch_size)
    return PrecisionRecallResult(precision=float(precision), recall=float(recall), k=k)
