"""Gaussian likelihood against scipy.stats; the learned scale and its gradient."""

import math

import numpy as np
import pytest
import scipy.stats
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.testing.backend import value_and_grad


def _data(shape, seed=0):
    rng = np.random.RandomState(seed)
    return (
        rng.normal(size=shape).astype("float32"),
        rng.normal(size=shape).astype("float32"),
    )


class GaussianTest(testing.TestCase):
    def test_log_prob_matches_scipy_summed_over_event_axes(self):
        x, mu = _data((4, 3, 5, 1))
        got = keras_vae.likelihoods.Gaussian(scale=0.7).log_prob(x, mu)
        self.assertEqual(tuple(got.shape), (4,))
        want = scipy.stats.norm.logpdf(x, mu, 0.7).sum(axis=(1, 2, 3))
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)

    def test_leading_sample_axis_broadcasts(self):
        x, _ = _data((3, 4), seed=1)
        mu = np.random.RandomState(2).normal(size=(5, 3, 4)).astype("float32")
        lik = keras_vae.likelihoods.Gaussian(scale=1.3)
        got = lik.log_prob(x, mu)
        self.assertEqual(tuple(got.shape), (5, 3))
        want = scipy.stats.norm.logpdf(x[None], mu, 1.3).sum(axis=-1)
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)

    def test_fixed_scale_has_no_weights(self):
        lik = keras_vae.likelihoods.Gaussian(scale=2.0)
        lik.log_prob(*_data((2, 3)))
        self.assertEqual(lik.weights, [])

    def test_learned_scale_is_a_weight_with_the_right_gradient(self):
        x, mu = _data((6, 2, 3), seed=3)
        lik = keras_vae.likelihoods.Gaussian(scale=0.5, learn_scale=True)
        lik.build(x.shape)
        self.assertEqual(len(lik.trainable_weights), 1)
        log_scale = lik.trainable_weights[0]

        def total():
            log_p = lik.log_prob(x, mu)
            return ops.sum(log_p), log_p

        (_, log_p), (grad,) = value_and_grad(total, variables=[log_scale], has_aux=True)
        self.assertEqual(tuple(log_scale.shape), (2, 3))
        self.assertAllClose(log_scale, np.full((2, 3), math.log(0.5)), rtol=1e-6)
        want = scipy.stats.norm.logpdf(x, mu, 0.5).sum(axis=(1, 2))
        self.assertAllClose(log_p, want, rtol=1e-5, atol=1e-4)
        # d/d log(sigma) of sum_b log N(x_b; mu_b, sigma) = sum_b (r_b^2 / sigma^2 - 1).
        want_grad = ((x - mu) ** 2 / 0.25 - 1.0).sum(0)
        self.assertAllClose(grad, want_grad, rtol=1e-4, atol=1e-4)

    def test_learned_scale_trains_towards_the_residual_scale(self):
        rng = np.random.RandomState(4)
        mu = np.zeros((512, 2), "float32")
        x = (rng.normal(size=(512, 2)) * np.array([0.3, 2.0])).astype("float32")
        lik = keras_vae.likelihoods.Gaussian(scale=1.0, learn_scale=True)
        lik.log_prob(x, mu)
        log_scale = lik.trainable_weights[0]
        # Per dimension the loss is u + r^2 exp(-2u) / 2 + const in u = log
        # sigma, with curvature 2 at the optimum: steps of 0.4 contract by 0.2.
        for _ in range(40):
            _, (grad,) = value_and_grad(
                lambda: -ops.sum(ops.mean(lik.log_prob(x, mu))), variables=[log_scale]
            )
            log_scale.assign_sub(0.4 * grad)
        # The maximum-likelihood scale is the residual RMS per dimension.
        self.assertAllClose(np.exp(log_scale.numpy()), np.sqrt((x**2).mean(0)), rtol=1e-3)

    def test_learned_scale_is_clamped(self):
        x, mu = _data((2, 3), seed=5)
        lik = keras_vae.likelihoods.Gaussian(scale=math.exp(-10.0), learn_scale=True)
        got = lik.log_prob(x, mu)
        want = scipy.stats.norm.logpdf(x, mu, math.exp(-7.0)).sum(-1)
        self.assertAllClose(got, want, rtol=1e-5)

    def test_mean_and_samples(self):
        mu = np.array([[1.0, -2.0]], "float32")
        lik = keras_vae.likelihoods.Gaussian(scale=0.5)
        self.assertAllClose(lik.mean(mu), mu)
        draws = np.asarray(lik.sample(np.repeat(mu, 20000, 0))).astype("float64")
        self.assertTrue(np.all(np.abs(draws.mean(0) - mu[0]) < 5 * 0.5 / np.sqrt(20000)))
        self.assertTrue(np.all(np.abs(draws.std(0) - 0.5) < 5 * 0.5 / np.sqrt(40000)))

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.likelihoods.Gaussian,
            {"scale": 0.3},
            input_shape=(2, 5),
            expected_output_shape=(2, 5),
        )


@pytest.mark.parametrize("scale", [0.0, -1.0, "1"])
def test_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="Expected `scale` to be a positive float"):
        keras_vae.likelihoods.Gaussian(scale=scale)
