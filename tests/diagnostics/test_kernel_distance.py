"""`diagnostics.kernel_distance` (KID) against a direct loop over pairs."""

import numpy as np
import pytest

from keras_vae import diagnostics


def loop_mmd2(a, b):
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, summed pair by pair."""
    m, d = len(a), a.shape[1]

    def k(x, y):
        return (float(np.dot(x, y)) / d + 1.0) ** 3

    aa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j)
    bb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(m))
    return aa / (m * (m - 1)) + bb / (m * (m - 1)) - 2.0 * ab / (m * m)


def test_whole_sets_match_the_loop():
    # subset_size >= n: every subset is a permutation of each whole set, and
    # MMD^2 does not depend on the order, so every estimate is the same.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 0.5
    result = diagnostics.kernel_distance(a, b, num_subsets=3, subset_size=100)
    assert isinstance(result, diagnostics.KernelDistanceResult)
    assert result.subset_size == 30 and result.num_subsets == 3
    assert result.mean == pytest.approx(loop_mmd2(a, b), rel=1e-10)
    assert result.std == pytest.approx(0.0, abs=1e-10)


def test_subsets_match_the_loop_on_the_same_draws():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 3)), 1.3 * rng.normal(size=(25, 3))
    result = diagnostics.kernel_distance(a, b, num_subsets=4, subset_size=10, seed=7)
    draws = np.random.default_rng(7)  # the documented draw: a's rows, then b's, per subset
    values = []
    for _ in range(4):
        ia = draws.choice(40, 10, replace=False)
        ib = draws.choice(25, 10, replace=False)
        values.append(loop_mmd2(a[ia], b[ib]))
    assert result.mean == pytest.approx(np.mean(values), rel=1e-10)
    assert result.std == pytest.approx(np.std(values), rel=1e-8)


def test_unbiased_near_zero_for_one_distribution_and_positive_apart():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(600, 5)), rng.normal(size=(600, 5))
    same = diagnostics.kernel_distance(a, b, num_subsets=20, subset_size=300)
    far = diagnostics.kernel_distance(a, b + 1.0, num_subsets=20, subset_size=300)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert far.mean > 10 * (abs(same.mean) + same.std)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_subsets": 0}, r"`num_subsets` to be a positive integer"),
        ({"subset_size": 1}, r"`subset_size` to be at least 2"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        diagnostics.kernel_distance(np.zeros((4, 2)), np.zeros((4, 2)), **kwargs)
