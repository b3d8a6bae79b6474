"""`diagnostics.precision_recall` (Kynkäänniemi et al., 2019) on clouds of known overlap."""

import numpy as np
import pytest
from scipy.spatial import distance

from keras_vae import diagnostics


def brute_force(real, fake, k):
    """The definition, with scipy's distances and a full sort."""

    def radii(x):
        return np.sort(distance.cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    def covered(points, centers):
        return np.mean(np.any(distance.cdist(points, centers) <= radii(centers)[None], axis=1))

    return covered(fake, real), covered(real, fake)


def test_identical_clouds_give_one():
    x = np.random.default_rng(0).normal(size=(200, 4))
    result = diagnostics.precision_recall(x, x.copy())
    assert isinstance(result, diagnostics.PrecisionRecallResult)
    assert (result.precision, result.recall, result.k) == (1.0, 1.0, 3)


def test_disjoint_clouds_give_zero():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(150, 3)), rng.normal(size=(120, 3)) + 100.0
    result = diagnostics.precision_recall(real, fake, k=5)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_half_of_the_samples_are_data():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 2))
    fake = np.concatenate([real[:100], real[:100] + 100.0])
    result = diagnostics.precision_recall(real, fake)
    assert result.precision == 0.5  # the copies are inside, the far half outside
    assert result.recall >= 0.5  # the copied real points are covered


@pytest.mark.parametrize("k, batch_size", [(1, 7), (3, 1000), (4, 33)])
def test_matches_the_brute_force_definition(k, batch_size):
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(90, 3)), 1.5 * rng.normal(size=(70, 3)) + 0.3
    result = diagnostics.precision_recall(real, fake, k=k, batch_size=batch_size)
    precision, recall = brute_force(real, fake, k)
    assert result.precision == pytest.approx(precision, abs=1e-12)
    assert result.recall == pytest.approx(recall, abs=1e-12)
    assert 0.0 < result.precision < 1.0 and 0.0 < result.recall < 1.0


def test_too_few_examples_for_k_raise():
    with pytest.raises(ValueError, match=r"`generated_features` to be a matrix .* at least 4"):
        diagnostics.precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
