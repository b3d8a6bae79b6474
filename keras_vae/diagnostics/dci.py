"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams, 2018)."""

import typing

import numpy as np

from keras_vae.diagnostics.factor_codes import check_latents_and_factors
from keras_vae.utils.validation import check_positive_int


class DCIResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.dci`.

    Attributes:
        disentanglement: D in [0, 1].
        completeness: C in [0, 1].
        informativeness: Mean test accuracy of the factor classifiers.
        importance: Float64 array `(d, K)`, R_jk, the importance of latent
            j for factor k (each column sums to 1).
        accuracy: Float64 array `(K,)`, each factor's test accuracy.
    """

    disentanglement: float
    completeness: float
    informativeness: float
    importance: np.ndarray
    accuracy: np.ndarray


def dci(latents, factors, test_fraction=0.25, num_trees=50, max_depth=3, seed=0):
    """Disentanglement, completeness and informativeness of latent codes.

    A random forest classifier per factor predicts v_k from the latents;
    R_jk is the impurity-based importance of latent j in the forest of
    factor k. Then, with P_jk = R_jk / sum_k' R_jk' (what latent j codes)
    and Q_jk = R_jk / sum_j' R_j'k (where factor k is coded),

    ```none
    D_j = 1 + sum_k P_jk log_K P_jk,     D = sum_j rho_j D_j,   rho_j = sum_k R_jk / sum R
    C_k = 1 + sum_j Q_jk log_d Q_jk,     C = (1/K) sum_k C_k
    I   = (1/K) sum_k accuracy_k         (on the held-out `test_fraction`)
    ```

    D is 1 when every latent informs one factor only, C is 1 when every
    factor is read from one latent only. Eastwood & Williams use lasso or
    random-forest regressors and `disentanglement_lib` gradient-boosted
    trees; here the importances come from scikit-learn's
    `RandomForestClassifier` with every latent considered at each split
    (`max_features=None`: a forced choice among a random subset would give
    importance to uninformative latents). Factors are classes (any labels),
    and informativeness is an accuracy (higher is better), not the paper's
    prediction error.

    The trees are 3 levels deep by default (`max_depth=3`), the depth of
    the gradient-boosted trees of `disentanglement_lib` (scikit-learn's
    `GradientBoostingClassifier` defaults). Fully grown trees
    (`max_depth=None`) fit noise where a factor is poorly predictable, and
    their noise splits spread importance over uninformative latents, which
    pulls D and C towards 0 on codes that are disentangled but weakly
    informative. With two factors of 4 values, each read by one latent
    through unit Gaussian noise, beside 3 pure-noise latents (a perfectly
    disentangled code), fully grown trees give D and C below 0.3 and
    depth-3 trees above 0.8 (`tests/diagnostics/test_disentanglement.py`).
    The price is informativeness: a depth-3 tree has 8 leaves, so a single
    tree cannot name more than 8 classes, and the forest's accuracy on a
    factor with many values (32 positions) is below what the latents allow;
    pass `max_depth=None` when informativeness is the figure wanted.

    Args:
        latents: Array `(n, d)`, d >= 2, e.g. posterior means.
        factors: Array `(n, K)` of discrete factor labels, K >= 2.
        test_fraction: Fraction of the examples held out for the accuracy.
        num_trees: Positive integer, trees per forest.
        max_depth: Maximum tree depth, or `None` for fully grown trees.
            Defaults to 3 (see above).
        seed: Integer seed of the split and the forests.

    Returns:
        A `DCIResult`.

    Example:

    >>> import numpy as np
    >>> factors = np.random.default_rng(0).integers(0, 4, size=(400, 2))
    >>> result = keras_vae.diagnostics.dci(factors, factors, num_trees=5)
    >>> result.disentanglement > 0.95, result.informativeness
    (True, 1.0)

    Reference:
        - [Eastwood & Williams, 2018](https://openreview.net/forum?id=By-7dz-AZ)
    """
    from sklearn.ensemble import RandomForestClassifier

    latents, codes = check_latents_and_factors(latents, factors, min_latents=2, min_factors=2)
    num_trees = check_positive_int(num_trees, "num_trees")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"Expected `test_fraction` in (0, 1). Received: {test_fraction!r}")
    n = len(latents)
    num_test = max(1, int(round(n * float(test_fraction))))
    if num_test >= n:
        raise ValueError(f"Expected some training examples. Received: n={n}")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:num_test], order[num_test:]
    d, k = latents.shape[1], codes.shape[1]
    importance = np.zeros((d, k))
    accuracy = np.zeros(k)
    for f in range(k):
        forest = RandomForestClassifier(
            n_estimators=num_trees, max_features=None, max_depth=max_depth, random_state=seed
        )
        forest.fit(latents[train], codes[train, f])
        importance[:, f] = forest.feature_importances_
        accuracy[f] = forest.score(latents[test], codes[test, f])
    d_score = _weighted_disentanglement(importance)
    c_score = float(np.mean(1.0 - _entropy(importance / _safe(importance.sum(0)), axis=0, base=d)))
    return DCIResult(d_score, c_score, float(accuracy.mean()), importance, accuracy)


def _safe(total):
    return np.where(total > 0, total, 1.0)


def _entropy(p, axis, base):
    """Entropy of distributions along `axis` in log base `base` (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis) / np.log(base)


def _weighted_disentanglement(importance):
    k = importance.shape[1]
    rows = importance.sum(axis=1)
    if rows.sum() == 0:
        return 0.0
    per_latent = 1.0 - _entropy(importance / _safe(rows)[:, None], axis=1, base=k)
    return float(np.sum(rows / rows.sum() * per_latent))
