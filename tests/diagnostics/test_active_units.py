"""Tests for `keras_vae.diagnostics.active_units` (Burda et al. 2016, Sec. 5.2).

In the linear-Gaussian model with the exact posterior and W = Q diag(c),
Var_x(E[z_j | x]) = c_j^2 / (c_j^2 + s^2): a zero column of W gives a unit
whose posterior mean is constant, a small column a nearly inactive unit.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae import diagnostics
from keras_vae.testing.linear_gaussian import linear_gaussian_vae

SCALE = 0.5
# Activities 0.9, 0.8, 0.0036 and exactly 0: two active units of four.
COLUMN_NORMS = (1.5, 1.0, 0.03, 0.0)
DATA = 6


@pytest.fixture(scope="module")
def setup():
    model, _ = linear_gaussian_vae(
        len(COLUMN_NORMS), DATA, SCALE, seed=5, column_norms=COLUMN_NORMS
    )
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, len(COLUMN_NORMS))).astype("float32")
    x = np.asarray(model.decode(z)) + SCALE * rng.normal(size=(1000, DATA))
    return model, x.astype("float32")


def test_counts_active_units_of_a_known_model(setup):
    model, x = setup
    result = diagnostics.active_units(model, x, batch_size=100)
    assert isinstance(result, diagnostics.ActiveUnitsResult)
    assert result.num_active == 2
    np.testing.assert_array_equal(result.active, [True, True, False, False])
    assert result.variances.dtype == np.float64
    assert result.variances.shape == (4,)
    c2 = np.square(COLUMN_NORMS)
    theory = c2 / (c2 + SCALE**2)
    # Sample variances of 1000 examples: relative sd sqrt(2 / 1000) ~ 4.5%.
    np.testing.assert_allclose(result.variances[:3], theory[:3], rtol=0.2)
    assert result.variances[3] == 0.0


def test_variances_match_numpy(setup):
    model, x = setup
    means = np.asarray(model.encode(x)[0], "float64")
    result = diagnostics.active_units(model, x, batch_size=64)
    np.testing.assert_allclose(result.variances, np.var(means, axis=0), rtol=1e-6, atol=1e-12)


def test_same_result_for_any_batch_size_and_data_form(setup):
    model, x = setup
    reference = diagnostics.active_units(model, x, batch_size=len(x))
    forms = {
        "batch 7": (x, 7),
        "batch 100": (x, 100),
        "batch 1": (x[:50], 1),
        "unbatched dataset": (tf.data.Dataset.from_tensor_slices(x), 7),
        "(x, y) dataset": (
            tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(33),
            100,
        ),
    }
    for name, (data, batch_size) in forms.items():
        result = diagnostics.active_units(model, data, batch_size=batch_size)
        if name == "batch 1":
            means = np.asarray(model.encode(x[:50])[0], "float64")
            np.testing.assert_allclose(
                result.variances, np.var(means, axis=0), rtol=1e-6, err_msg=name
            )
            continue
        np.testing.assert_allclose(
            result.variances, reference.variances, rtol=1e-6, atol=1e-12, err_msg=name
        )
        assert result.num_active == reference.num_active == 2


def test_threshold(setup):
    model, x = setup
    # Every unit but the one with a constant posterior mean has a positive
    # activity; the threshold is strict.
    assert diagnostics.active_units(model, x, threshold=0.0).num_active == 3
    assert diagnostics.active_units(model, x, threshold=0.001).num_active == 3
    assert diagnostics.active_units(model, x, threshold=2.0).num_active == 0


class TwoLayerModel:
    """A stand-in for a hierarchical model: one (loc, scale) pair per layer.

    The first layer's means sit near 1e4 with variances 0.04 and 0.0025: a
    naive E[m^2] - E[m]^2 would lose them to cancellation.
    """

    data_shape = (3,)

    def encode(self, x):
        x = np.asarray(x, "float64")
        loc1 = (1e4 + x[:, :2] * [0.2, 0.05]).astype("float32")
        loc2 = np.stack([x[:, 2], np.zeros(len(x))], axis=1).astype("float32")
        loc2 = keras.ops.convert_to_tensor(loc2)  # a backend tensor, beside NumPy pairs
        return [(loc1, np.ones_like(loc1)), (loc2, keras.ops.ones_like(loc2))]


def test_one_result_per_latent_layer():
    x = np.random.default_rng(1).normal(size=(500, 3)).astype("float32")
    model = TwoLayerModel()
    results = diagnostics.active_units(model, x, batch_size=7)
    assert isinstance(results, list) and len(results) == 2
    for result, (loc, _) in zip(results, model.encode(x)):
        expected = np.var(np.asarray(loc, "float64"), axis=0)
        np.testing.assert_allclose(result.variances, expected, rtol=1e-9, atol=1e-15)
    assert [r.num_active for r in results] == [1, 1]
    np.testing.assert_array_equal(results[0].active, [True, False])
    np.testing.assert_array_equal(results[1].active, [True, False])


def test_argument_errors(setup):
    model, x = setup
    with pytest.raises(ValueError, match=r"Received: threshold=-0.1"):
        diagnostics.active_units(model, x, threshold=-0.1)
    with pytest.raises(ValueError, match=r"Received: threshold=nan"):
        diagnostics.active_units(model, x, threshold=float("nan"))
    with pytest.raises(
        ValueError,
        match=r"Expected `batch_size` to be a positive integer. Received: batch_size=0",
    ):
        diagnostics.active_units(model, x, batch_size=0)
    with pytest.raises(TypeError, match=r"`encode\(x\)` method"):
        diagnostics.active_units(object(), x)

    class BadEncoder:
        def encode(self, x):
            return np.zeros((len(x), 2))

    with pytest.raises(TypeError, match=r"`\(loc, scale\)` pair"):
        diagnostics.active_units(BadEncoder(), x)
    with pytest.raises(ValueError, match=r"at least one example"):
        diagnostics.active_units(model, x[:0])
