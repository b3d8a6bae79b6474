"""Fréchet distance between Gaussians fitted to two sets of features (FID)."""

import numpy as np

from keras_vae.diagnostics.feature_sets import feature_pair


def psd_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix, by `eigh`.

    ```none
    M = V diag(w) V^T   ->   M^(1/2) = V diag(sqrt(max(w, 0))) V^T
    ```

    Eigenvalues that rounding made slightly negative are set to 0.
    """
    m = np.asarray(matrix, "float64")
    w, v = np.linalg.eigh(0.5 * (m + m.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b):
    """Squared Fréchet (2-Wasserstein) distance between two Gaussians.

    ```none
    d^2 = ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))
    tr((S_a S_b)^(1/2)) = tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))
                        = sum_i sqrt(lambda_i),  lambda_i = eigenvalues of S_a^(1/2) S_b S_a^(1/2)
    ```

    The square root of the product is taken through the symmetric matrix
    `S_a^(1/2) S_b S_a^(1/2)` (similar to `S_a S_b`, so with the same
    eigenvalues, and positive semi-definite) with `numpy.linalg.eigh`,
    rather than `scipy.linalg.sqrtm(S_a @ S_b)`: `sqrtm` of the
    non-symmetric product goes through a complex Schur decomposition and
    returns spurious imaginary parts, and fails (or needs an `eps * I`
    offset) when the product is singular, which sample covariances with
    fewer examples than features always are. `eigh` of a symmetric matrix is
    backward stable, returns real eigenvalues, and the rounding errors that
    make tiny eigenvalues negative are clipped to 0. Only the trace is
    needed, so no square-root matrix is formed beyond `S_a^(1/2)`. The
    result is clipped at 0 (rounding can make equal moments give -1e-12).

    Args:
        mean_a: Vector `(d,)`.
        cov_a: Symmetric positive semi-definite matrix `(d, d)`.
        mean_b: Vector `(d,)`.
        cov_b: Symmetric positive semi-definite matrix `(d, d)`.

    Returns:
        A non-negative Python float, d^2 (FID reports this squared distance).

    Example:

    >>> keras_vae.diagnostics.frechet_distance_from_moments(  # 1-d: (0-1)^2 + (2-1)^2
    ...     np.zeros(1), np.eye(1) * 4.0, np.ones(1), np.eye(1))
    2.0

    Reference:
        - [Dowson & Landau, 1982](https://doi.org/10.1016/0047-259X(82)90077-X)
        - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500) (FID)
    """
    mean_a, mean_b = (np.asarray(m, "float64").reshape(-1) for m in (mean_a, mean_b))
    cov_a, cov_b = (np.asarray(c, "float64") for c in (cov_a, cov_b))
    d = mean_a.shape[0]
    for name, value, shape in (
        ("mean_b", mean_b, (d,)),
        ("cov_a", cov_a, (d, d)),
        ("cov_b", cov_b, (d, d)),
    ):
        if value.shape != shape:
            raise ValueError(
                f"Expected `{name}` of shape {shape} (from `mean_a`). Received: {value.shape}"
            )
    root_a = psd_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    diff = mean_a - mean_b
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (FID).

    ```none
    mu = (1/n) sum_i f_i,   S = (1/(n-1)) sum_i (f_i - mu)(f_i - mu)^T     (per set)
    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))
    ```

    With Inception-v3 pool features this is FID (Heusel et al., 2017); with
    `keras_vae.diagnostics.mnist_feature_extractor` features it is the
    MNIST analogue. Lower is closer; 0 for equal moments. It is biased
    upwards for finite sets (by O(d / n)), so compare figures computed with
    the same numbers of examples. See `frechet_distance_from_moments` for
    the matrix square root; `keras_vae.metrics.FrechetDistance` streams the
    same statistics batch by batch.

    Args:
        features_a: Matrix `(n_a, d)` of features (array or tensor), n_a >= 2.
        features_b: Matrix `(n_b, d)`, n_b >= 2.

    Returns:
        A non-negative Python float.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(5000, 2))
    >>> b = rng.normal(size=(5000, 2)) + [3.0, 0.0]  # mean shifted by 3
    >>> round(keras_vae.diagnostics.frechet_distance(a, b))  # ~ 3^2
    9

    Reference:
        - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500)
    """
    a, b = feature_pair(features_a, features_b, min_rows=2)
    return frechet_distance_from_moments(
        a.mean(axis=0),
        np.atleast_2d(np.cov(a, rowvar=False)),
        b.mean(axis=0),
        np.atleast_2d(np.cov(b, rowvar=False)),
    )
