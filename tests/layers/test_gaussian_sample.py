"""GaussianSample: shapes, moments, seeding and reparameterization gradients."""

import numpy as np
import pytest
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.testing.backend import value_and_grad

LOC = np.array([[0.5, -2.0, 3.0], [1.0, 0.0, -1.5]], "float32")
SCALE = np.array([[0.1, 1.0, 2.5], [0.5, 3.0, 0.2]], "float32")


class GaussianSampleTest(testing.TestCase):
    def test_shape_without_num_samples(self):
        z = keras_vae.layers.GaussianSample(seed=1)(LOC, SCALE)
        self.assertEqual(tuple(z.shape), (2, 3))

    def test_shape_with_num_samples(self):
        z = keras_vae.layers.GaussianSample(num_samples=5, seed=1)(LOC, SCALE)
        self.assertEqual(tuple(z.shape), (5, 2, 3))

    def test_sample_moments(self):
        n = 50_000
        z = np.asarray(keras_vae.layers.GaussianSample(num_samples=n, seed=3)(LOC, SCALE))
        z = z.astype("float64")
        # Mean: 5 standard errors; std: the std of a sample std is ~ s / sqrt(2n).
        self.assertTrue(np.all(np.abs(z.mean(0) - LOC) < 5 * SCALE / np.sqrt(n)))
        self.assertTrue(np.all(np.abs(z.std(0) - SCALE) < 5 * SCALE / np.sqrt(2 * n)))
        # Standardized samples are N(0, 1): mean 0, variance 1, no skew.
        eps = (z - LOC) / SCALE
        self.assertLess(abs(eps.mean()), 5 / np.sqrt(eps.size))
        self.assertLess(abs(eps.var() - 1.0), 5 * np.sqrt(2 / eps.size))
        self.assertLess(abs((eps**3).mean()), 5 * np.sqrt(15 / eps.size))

    def test_reproducible_given_seed(self):
        a = keras_vae.layers.GaussianSample(num_samples=4, seed=11)
        b = keras_vae.layers.GaussianSample(num_samples=4, seed=11)
        c = keras_vae.layers.GaussianSample(num_samples=4, seed=12)
        za1, zb1 = a(LOC, SCALE), b(LOC, SCALE)
        self.assertAllClose(za1, zb1, rtol=0, atol=0)
        # The next draws differ from the first, and equal each other again.
        za2, zb2 = a(LOC, SCALE), b(LOC, SCALE)
        self.assertAllClose(za2, zb2, rtol=0, atol=0)
        self.assertNotAllClose(za1, za2)
        self.assertNotAllClose(za1, c(LOC, SCALE))

    def test_reparameterization_gradients(self):
        # f = sum(w * z) with z = loc + scale * eps over k samples:
        # df/dloc = sum_k w_k,  df/dscale = sum_k w_k * eps_k.
        k = 6
        layer = keras_vae.layers.GaussianSample(num_samples=k, seed=5)
        w = np.random.RandomState(0).normal(size=(k, 2, 3)).astype("float32")

        def f(loc, scale):
            z = layer(loc, scale)
            return ops.sum(w * z), z

        (_, z), (d_loc, d_scale) = value_and_grad(f, [LOC, SCALE], has_aux=True)
        eps = (np.asarray(z) - LOC) / SCALE
        self.assertAllClose(d_loc, w.sum(0), rtol=1e-5, atol=1e-5)
        self.assertAllClose(d_scale, (w * eps).sum(0), rtol=1e-4, atol=1e-4)

    def test_unit_gradients_without_sample_axis(self):
        layer = keras_vae.layers.GaussianSample(seed=5)

        def total(loc, scale):
            z = layer(loc, scale)
            return ops.sum(z), z

        (_, z), (d_loc, d_scale) = value_and_grad(total, [LOC, SCALE], has_aux=True)
        # Elementwise: dz/dloc = 1 and dz/dscale = eps.
        self.assertAllClose(d_loc, np.ones_like(LOC))
        eps = (np.asarray(z) - LOC) / SCALE
        self.assertAllClose(d_scale, eps, rtol=1e-4, atol=1e-5)

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.layers.GaussianSample,
            {"num_samples": 3, "seed": 2},
            input_data=(LOC, SCALE),
            expected_output_shape=(3, 2, 3),
        )


@pytest.mark.parametrize("num_samples", [0, -3, 2.0])
def test_bad_num_samples_raise(num_samples):
    with pytest.raises(ValueError, match="Expected `num_samples` to be a positive"):
        keras_vae.layers.GaussianSample(num_samples=num_samples)
