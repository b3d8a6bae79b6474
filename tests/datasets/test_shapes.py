"""Tests for `keras_vae.datasets.shapes`, the dSprites-like factor dataset.

Oracles: the pixel count of a square and an ellipse against their area
(s' = 9 (0.5 + 0.5 i / 5) pixels: (2 s')^2 and pi s' (s' / 2)), the centre
of mass against the x / y factors, determinism from the seed.
"""

import numpy as np
import pytest

from keras_vae import datasets


def test_shapes_are_deterministic_with_labels_in_range():
    a, fa = datasets.shapes(20, seed=3)
    b, fb = datasets.shapes(20, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    assert a.shape == (20, 64, 64, 1) and a.dtype == np.float32
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert fa.shape == (20, len(datasets.SHAPES_FACTORS))
    assert np.all(fa >= 0) and np.all(fa < np.array(list(datasets.SHAPES_FACTORS.values())))
    assert not np.array_equal(datasets.shapes(20, seed=4)[1], fa)


@pytest.mark.parametrize("scale", [0, 5])
def test_areas_match_the_geometry(scale):
    s = 9.0 * (0.5 + 0.5 * scale / 5)
    expected = {0: (2 * s) ** 2, 1: np.pi * s * s / 2}
    for shape, area in expected.items():
        images, factors = datasets.shapes(400, seed=shape, fixed_factor="shape", fixed_value=shape)
        chosen = (factors[:, 1] == scale) & (factors[:, 2] % 10 == 0)  # axis-aligned
        counts = images[chosen].sum(axis=(1, 2, 3))
        assert len(counts) > 0
        # Boundary pixels: within a perimeter's worth of the area.
        assert np.all(np.abs(counts - area) < 4 * (2 * s) + 4), (shape, counts, area)


def test_centre_of_mass_follows_x_and_y():
    images, factors = datasets.shapes(200, seed=5)
    rows, cols = np.mgrid[0:64, 0:64] + 0.5
    mass = images[..., 0].sum(axis=(1, 2))
    cx = (images[..., 0] * cols).sum(axis=(1, 2)) / mass
    cy = (images[..., 0] * rows).sum(axis=(1, 2)) / mass
    expected_x = 14 + 36 * factors[:, 3] / 31
    expected_y = 14 + 36 * factors[:, 4] / 31
    symmetric = factors[:, 0] < 2  # the heart's centroid is off its centre
    assert np.max(np.abs(cx - expected_x)[symmetric]) < 0.6
    assert np.max(np.abs(cy - expected_y)[symmetric]) < 0.6
    assert np.corrcoef(cx, expected_x)[0, 1] > 0.99


def test_fixed_factor():
    _, factors = datasets.shapes(50, seed=1, fixed_factor=3)
    assert len(np.unique(factors[:, 3])) == 1
    assert len(np.unique(factors[:, 4])) > 1
    _, factors = datasets.shapes(5, seed=1, fixed_factor="orientation", fixed_value=7)
    assert np.all(factors[:, 2] == 7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_examples": 0}, "num_examples"),
        ({"fixed_factor": "colour"}, "factor"),
        ({"fixed_factor": 5}, "factor index"),
        ({"fixed_factor": "shape", "fixed_value": 3}, "fixed_value"),
        ({"fixed_value": 1}, "fixed_factor"),
    ],
)
def test_invalid_arguments(kwargs, match):
    args = {"num_examples": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        datasets.shapes(**args)
