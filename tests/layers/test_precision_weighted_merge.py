"""PrecisionWeightedMerge: the merge formula against numpy, limits, errors."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.layers import PrecisionWeightedMerge
from keras_vae.testing.backend import compiled
from keras_vae.testing.backend import requires_float64
from keras_vae.testing.backend import value_and_grad


def _oracle(loc_hat, scale_hat, loc_p, scale_p):
    """The paper's formula, in float64 precisions."""
    prec_hat, prec_p = scale_hat**-2.0, scale_p**-2.0
    var_q = 1.0 / (prec_hat + prec_p)
    return (loc_hat * prec_hat + loc_p * prec_p) * var_q, np.sqrt(var_q)


def _pairs(rng, shape, dtype="float64", scale_range=(-2.0, 2.0)):
    def pair():
        loc = rng.normal(size=shape).astype(dtype)
        scale = np.exp(rng.uniform(*scale_range, size=shape)).astype(dtype)
        return loc, scale

    return pair(), pair()


def _positive_pairs(rng):
    return _pairs(rng, (4, 3), "float32")


class PrecisionWeightedMergeTest(testing.TestCase):
    @requires_float64
    def test_formula_matches_numpy_in_float64(self):
        rng = np.random.default_rng(0)
        likelihood, prior = _pairs(rng, (5, 7))
        loc, scale = PrecisionWeightedMerge(dtype="float64")(likelihood, prior)
        self.assertEqual(keras.backend.standardize_dtype(loc.dtype), "float64")
        want_loc, want_scale = _oracle(*likelihood, *prior)
        self.assertAllClose(loc, want_loc, rtol=1e-12, atol=1e-12)
        self.assertAllClose(scale, want_scale, rtol=1e-12, atol=0)

    def test_float32_matches_numpy(self):
        rng = np.random.default_rng(1)
        likelihood, prior = _pairs(rng, (6, 4), "float32", (-5.0, 5.0))
        loc, scale = PrecisionWeightedMerge()(likelihood, prior)
        as64 = [a.astype("float64") for a in likelihood + prior]
        want_loc, want_scale = _oracle(*as64)
        self.assertAllClose(loc, want_loc, rtol=1e-5, atol=1e-5)
        self.assertAllClose(scale, want_scale, rtol=1e-5, atol=0)

    def test_known_values(self):
        # Equal precisions: the mean is the midpoint, the variance halves.
        # Precisions 1 and 3: mean (0 * 1 + 4 * 3) / 4 = 3, variance 1/4.
        merge = PrecisionWeightedMerge()
        f = lambda *v: np.array(v, "float32")[None]
        loc, scale = merge((f(1.0, 0.0), f(1.0, 1.0)), (f(3.0, 4.0), f(1.0, 3**-0.5)))
        self.assertAllClose(loc, [[2.0, 3.0]], rtol=1e-6)
        self.assertAllClose(scale, [[0.5**0.5, 0.5]], rtol=1e-6)

    def test_an_infinitely_wide_term_leaves_the_other(self):
        rng = np.random.default_rng(2)
        (loc_hat, scale_hat), (loc_p, scale_p) = _pairs(rng, (8, 3), "float32")
        huge = np.full_like(scale_p, 1e30)
        merge = PrecisionWeightedMerge()
        # A flat prior: the posterior is the bottom-up likelihood term...
        loc, scale = merge((loc_hat, scale_hat), (loc_p, huge))
        self.assertAllClose(loc, loc_hat, rtol=1e-6, atol=1e-7)
        self.assertAllClose(scale, scale_hat, rtol=1e-6)
        # ...and an uninformative likelihood term gives back the prior.
        loc, scale = merge((loc_hat, huge), (loc_p, scale_p))
        self.assertAllClose(loc, loc_p, rtol=1e-6, atol=1e-7)
        self.assertAllClose(scale, scale_p, rtol=1e-6)

    def test_extreme_scales_stay_finite_with_finite_gradients(self):
        # Variances 1e-60 and 1e60 overflow float32; log-space does not.
        scales = np.array([1e-30, 1e-20, 1e-3, 1.0, 1e3, 1e20, 1e30], "float32")
        hat, p = np.meshgrid(scales, scales)
        loc_hat = np.full_like(hat, 2.0)
        loc_p = np.full_like(hat, -1.0)
        merge = PrecisionWeightedMerge()

        def total(loc_hat, hat, loc_p, p):
            loc, scale = merge((loc_hat, hat), (loc_p, p))
            return ops.sum(loc) + ops.sum(ops.log(scale)), loc, scale

        (_, loc, scale), grads = value_and_grad(total, [loc_hat, hat, loc_p, p], has_aux=True)
        loc, scale = ops.convert_to_numpy(loc), ops.convert_to_numpy(scale)
        for value in [loc, scale] + grads:
            self.assertTrue(np.all(np.isfinite(ops.convert_to_numpy(value))))
        self.assertTrue(np.all(scale > 0))
        # The merged scale is below both inputs (up to the float32 rounding of
        # log-variances near +-138, a few 1e-6 relative) and the
        # mean lies between the two means.
        smaller = np.minimum(hat, p)
        self.assertTrue(np.all(scale <= smaller * (1 + 1e-5)))
        self.assertTrue(np.all((loc >= -1.0) & (loc <= 2.0)))
        want = _oracle(2.0, hat.astype("f8"), -1.0, p.astype("f8"))
        self.assertAllClose(scale, want[1], rtol=1e-5)
        self.assertAllClose(loc, want[0], rtol=1e-5, atol=1e-6)

    def test_broadcasts_a_sample_axis(self):
        rng = np.random.default_rng(3)
        (loc_hat, scale_hat), _ = _pairs(rng, (4, 3), "float32")
        _, (loc_p, scale_p) = _pairs(rng, (2, 4, 3), "float32")
        merge = PrecisionWeightedMerge()
        loc, _ = merge((loc_hat, scale_hat), (loc_p, scale_p))
        self.assertEqual(tuple(loc.shape), (2, 4, 3))
        self.assertEqual(
            merge.compute_output_shape(((None, 3), (None, 3)), ((2, None, 3),) * 2),
            ((2, None, 3), (2, None, 3)),
        )
        for s in range(2):
            self.assertAllClose(loc[s], merge((loc_hat, scale_hat), (loc_p[s], scale_p[s]))[0])

    def test_layer_contract_with_pair_inputs(self):
        self.run_layer_test(
            PrecisionWeightedMerge,
            {},
            input_data=_positive_pairs,
            expected_output_shape=((4, 3), (4, 3)),
        )

    def test_compiled_call_skips_the_value_check(self):
        merge = PrecisionWeightedMerge()
        fn = compiled(lambda a, b: merge(a, b), state=[merge])
        ones = ops.ones((2, 2))
        _, scale = fn((ones, ones), (ones, 3.0 * ones))
        self.assertAllClose(scale, np.full((2, 2), (1 / (1 + 1 / 9)) ** 0.5), rtol=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
@pytest.mark.parametrize("which", ["scale_hat", "scale_p"])
def test_non_positive_scales_raise(bad, which):
    ones = np.ones((2, 3), "float32")
    scale = ones.copy()
    scale[1, 2] = bad
    merge = keras_vae.layers.PrecisionWeightedMerge()
    args = (
        ((ones, scale), (ones, ones))
        if which == "scale_hat"
        else (
            (ones, ones),
            (ones, scale),
        )
    )
    with pytest.raises(ValueError, match=rf"Expected `{which}` to hold positive"):
        merge(*args)
    # Eager tensors are concrete too.
    args = keras.tree.map_structure(ops.convert_to_tensor, args)
    with pytest.raises(ValueError, match=r"1 value\(s\) <= 0 or NaN"):
        merge(*args)


def test_shapes_that_do_not_broadcast_raise():
    merge = keras_vae.layers.PrecisionWeightedMerge()
    with pytest.raises(ValueError, match="broadcast"):
        merge.compute_output_shape(((None, 3), (None, 3)), ((None, 4), (None, 4)))
