"""Bernoulli likelihood against scipy.stats and closed forms."""

import numpy as np
import scipy.special
import scipy.stats
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.testing.backend import compiled
from keras_vae.testing.backend import value_and_grad


def _data(shape, seed=0):
    rng = np.random.RandomState(seed)
    logits = rng.normal(scale=3.0, size=shape).astype("float32")
    x = (rng.uniform(size=shape) < 0.5).astype("float32")
    return x, logits


class BernoulliTest(testing.TestCase):
    def test_log_prob_matches_scipy_summed_over_event_axes(self):
        x, logits = _data((4, 3, 5, 1))
        got = keras_vae.likelihoods.Bernoulli().log_prob(x, logits)
        self.assertEqual(tuple(got.shape), (4,))
        p = scipy.special.expit(logits.astype("float64"))
        want = scipy.stats.bernoulli.logpmf(x, p).sum(axis=(1, 2, 3))
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)

    def test_log_prob_of_vectors(self):
        x, logits = _data((6, 7), seed=1)
        got = keras_vae.likelihoods.Bernoulli().log_prob(x, logits)
        p = scipy.special.expit(logits.astype("float64"))
        self.assertAllClose(got, scipy.stats.bernoulli.logpmf(x, p).sum(1), rtol=1e-5)

    def test_leading_sample_axis_broadcasts(self):
        x, _ = _data((3, 4, 2), seed=2)
        logits = np.random.RandomState(3).normal(size=(5, 3, 4, 2)).astype("float32")
        lik = keras_vae.likelihoods.Bernoulli()
        got = lik.log_prob(x, logits)
        self.assertEqual(tuple(got.shape), (5, 3))
        for s in range(5):
            self.assertAllClose(got[s], lik.log_prob(x, logits[s]), rtol=1e-6)
        p = scipy.special.expit(logits.astype("float64"))
        want = scipy.stats.bernoulli.logpmf(x[None], p).sum(axis=(2, 3))
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)

    def test_stable_for_large_logits(self):
        # log sigmoid(l) = -softplus(-l): exact where exp/log would give -inf.
        logits = np.array([[60.0, -60.0, 60.0, -60.0]], "float32")
        x = np.array([[1.0, 0.0, 0.0, 1.0]], "float32")
        got = np.asarray(keras_vae.likelihoods.Bernoulli().log_prob(x, logits))
        want = -np.logaddexp(0.0, [-60.0, -60.0, 60.0, 60.0]).sum()
        self.assertTrue(np.isfinite(got).all())
        self.assertAllClose(got, [want], rtol=1e-6)

    def test_gradient_is_x_minus_sigmoid(self):
        # d/dl [x log sigmoid(l) + (1 - x) log sigmoid(-l)] = x - sigmoid(l).
        x = np.random.RandomState(6).uniform(size=(4, 5)).astype("float32")
        logits = np.random.RandomState(7).normal(scale=5.0, size=(4, 5)).astype("float32")
        lik = keras_vae.likelihoods.Bernoulli()
        _, (grad,) = value_and_grad(lambda l: ops.sum(lik.log_prob(x, l)), [logits])
        want = x - scipy.special.expit(logits.astype("float64"))
        self.assertAllClose(grad, want, rtol=1e-5, atol=1e-6)

    def test_log_density_and_gradient_over_the_float32_range(self):
        # Every pixel's term against float64 closed forms, eager and under
        # XLA: log p = x l - log(1 + e^l), d/dl = x - sigmoid(l), across the
        # exp/log switch points, the float32 extremes and l = 0 exactly.
        extremes = [0.0, 1e-30, -1e-30, 16.5, -16.5, 17.5, -17.5, 88.8, -88.8, 1e30, -1e30]
        grid = np.concatenate([np.linspace(-100.0, 100.0, 4001), extremes]).astype("float32")
        x = (np.arange(grid.size) % 2).astype("float32")
        lik = keras_vae.likelihoods.Bernoulli()

        def per_pixel_and_grad(l):
            # One pixel per example: the gradient of the sum is each pixel's.
            def total(l):
                per_pixel = lik.log_prob(x[:, None], l[:, None])
                return ops.sum(per_pixel), per_pixel

            (_, per_pixel), (grad,) = value_and_grad(total, [l], has_aux=True)
            return per_pixel, grad

        l64 = grid.astype("float64")
        want = x * l64 - np.logaddexp(0.0, l64)
        want_grad = x - scipy.special.expit(l64)
        for fn in (per_pixel_and_grad, compiled(per_pixel_and_grad, state=[lik])):
            got, grad = fn(ops.convert_to_tensor(grid))
            self.assertAllClose(got, want, rtol=1e-6, atol=1e-6)
            self.assertAllClose(grad, want_grad, rtol=0.0, atol=2e-7)
            self.assertAllClose(grad[4001], 0.5, rtol=0.0, atol=1e-7)  # l = 0, x = 1

    def test_relaxation_for_grey_levels(self):
        x = np.random.RandomState(4).uniform(size=(3, 6)).astype("float32")
        logits = np.random.RandomState(5).normal(size=(3, 6)).astype("float32")
        got = keras_vae.likelihoods.Bernoulli().log_prob(x, logits)
        l64 = logits.astype("float64")
        want = (x * -np.logaddexp(0, -l64) + (1 - x) * -np.logaddexp(0, l64)).sum(1)
        self.assertAllClose(got, want, rtol=1e-5)

    def test_mean_and_samples(self):
        logits = np.array([[-2.0, 0.0, 1.5]], "float32")
        lik = keras_vae.likelihoods.Bernoulli()
        self.assertAllClose(lik.mean(logits), scipy.special.expit(logits), rtol=1e-6)
        draws = np.stack([np.asarray(lik.sample(np.repeat(logits, 2000, 0))) for _ in range(5)])
        self.assertTrue(set(np.unique(draws)) <= {0.0, 1.0})
        freq = draws.reshape(-1, 3).mean(0)
        p = scipy.special.expit(logits[0])
        self.assertTrue(np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / 10000)))

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.likelihoods.Bernoulli,
            {},
            input_shape=(2, 4, 4, 1),
            expected_output_shape=(2, 4, 4, 1),
        )
