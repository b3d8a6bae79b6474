"""MixtureOfGaussians prior against numpy/scipy oracles."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.testing.backend import value_and_grad


def _prior(k, d, means, log_scales, logits, **kwargs):
    prior = keras_vae.priors.MixtureOfGaussians(k, latent_dim=d, **kwargs)
    prior.build((None, d))
    prior.means.assign(np.asarray(means, "float32"))
    prior.log_scales.assign(np.asarray(log_scales, "float32"))
    prior.logits.assign(np.asarray(logits, "float32"))
    return prior


def _log_prob_oracle(z, means, scales, logits):
    """logsumexp_k [log pi_k + sum_d log N(z_d; mu_kd, s_kd)] in float64."""
    z = np.asarray(z, "float64")[..., None, :]
    log_comp = scipy.stats.norm.logpdf(z, means, scales).sum(-1)
    return scipy.special.logsumexp(log_comp + scipy.special.log_softmax(logits), -1)


def _random_params(rng, k, d):
    means = rng.normal(scale=2.0, size=(k, d))
    log_scales = rng.uniform(-1.0, 1.0, size=(k, d))
    logits = rng.normal(size=(k,))
    return means, log_scales, logits


class MixtureOfGaussiansTest(testing.TestCase):
    def test_log_prob_matches_logsumexp_oracle(self):
        rng = np.random.RandomState(0)
        means, log_scales, logits = _random_params(rng, 5, 3)
        prior = _prior(5, 3, means, log_scales, logits)
        z = rng.normal(scale=3.0, size=(2, 7, 3)).astype("float32")
        got = prior.log_prob(z)
        self.assertEqual(tuple(got.shape), (2, 7))
        want = _log_prob_oracle(z, means, np.exp(log_scales), logits)
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)

    def test_log_prob_stable_far_from_all_components(self):
        rng = np.random.RandomState(1)
        means, log_scales, logits = _random_params(rng, 4, 2)
        prior = _prior(4, 2, means, log_scales, logits)
        z = np.array([[300.0, -300.0]], "float32")
        got = np.asarray(prior.log_prob(z))
        self.assertTrue(np.isfinite(got).all())
        want = _log_prob_oracle(z, means, np.exp(log_scales), logits)
        self.assertAllClose(got, want, rtol=1e-5)

    def test_log_scales_are_clamped(self):
        rng = np.random.RandomState(2)
        means, _, logits = _random_params(rng, 2, 2)
        log_scales = np.array([[5.0, -9.0], [0.0, 3.0]])
        prior = _prior(2, 2, means, log_scales, logits, min_log_scale=-3.0)
        z = rng.normal(size=(6, 2)).astype("float32")
        clamped = np.exp(np.clip(log_scales, -3.0, 2.0))
        self.assertAllClose(
            prior.log_prob(z), _log_prob_oracle(z, means, clamped, logits), rtol=1e-5
        )

    def test_gradients_match_responsibilities(self):
        # d log p(z) / d mu_k = r_k(z) (z - mu_k) / s_k^2,  r = posterior over k.
        rng = np.random.RandomState(3)
        means, log_scales, logits = _random_params(rng, 3, 2)
        prior = _prior(3, 2, means, log_scales, logits)
        z = rng.normal(size=(1, 2)).astype("float32")
        _, (d_means, d_log_scales, d_logits) = value_and_grad(
            lambda: ops.sum(prior.log_prob(z)),
            variables=[prior.means, prior.log_scales, prior.logits],
        )
        scales = np.exp(log_scales)
        log_joint = scipy.stats.norm.logpdf(z, means, scales).sum(-1) + (
            scipy.special.log_softmax(logits)
        )
        r = scipy.special.softmax(log_joint)
        self.assertAllClose(d_means, r[:, None] * (z - means) / scales**2, rtol=1e-4)
        want = r[:, None] * ((z - means) ** 2 / scales**2 - 1.0)
        self.assertAllClose(d_log_scales, want, rtol=1e-4, atol=1e-6)
        self.assertAllClose(d_logits, r - scipy.special.softmax(logits), atol=1e-5)

    def test_single_component_kl_closed_form_vs_monte_carlo(self):
        # One component is a Gaussian p = N(m, s^2): KL(q || p) has a closed
        # form; the Monte Carlo estimate uses the prior's log_prob.
        n = 200_000
        m, log_s = np.array([[0.5, -1.0]]), np.array([[0.3, -0.4]])
        prior = _prior(1, 2, m, log_s, [0.0])
        s = np.exp(log_s[0])
        loc, scale = np.array([1.0, 0.0]), np.array([0.7, 1.2])
        closed = np.sum(np.log(s / scale) + (scale**2 + (loc - m[0]) ** 2) / (2 * s**2) - 0.5)
        z = (loc + scale * np.random.RandomState(4).normal(size=(n, 2))).astype("f4")
        log_q = scipy.stats.norm.logpdf(z, loc, scale).sum(-1)
        terms = log_q - np.asarray(prior.log_prob(z))
        stderr = terms.std() / np.sqrt(n)
        self.assertLess(stderr, 0.01)
        self.assertLess(abs(terms.mean() - closed), 5 * stderr)

    def test_has_no_closed_form_kl(self):
        prior = keras_vae.priors.MixtureOfGaussians(2, latent_dim=2)
        self.assertFalse(prior.has_analytic_kl)
        with pytest.raises(NotImplementedError):
            prior.kl_divergence(np.zeros((1, 2), "f4"), np.ones((1, 2), "f4"))

    def test_sample_statistics_match_the_mixture(self):
        n = 60_000
        weights = np.array([0.2, 0.3, 0.5])
        means = np.array([[-10.0, 0.0], [0.0, 10.0], [10.0, -5.0]])
        log_scales = np.log(np.array([[0.5, 1.0], [1.5, 0.3], [1.0, 2.0]]))
        prior = _prior(3, 2, means, log_scales, np.log(weights), seed=5)
        z = np.asarray(prior.sample(n)).astype("float64")
        self.assertEqual(z.shape, (n, 2))
        # Components are >= 5 scales apart: assign each draw to the nearest mean.
        dist = ((z[:, None, :] - means) ** 2 / np.exp(2 * log_scales)).sum(-1)
        label = np.argmin(dist, 1)
        freq = np.bincount(label, minlength=3) / n
        self.assertTrue(
            np.all(np.abs(freq - weights) < 5 * np.sqrt(weights * (1 - weights) / n)),
            freq,
        )
        for k in range(3):
            zk, sk = z[label == k], np.exp(log_scales[k])
            tol = 5 * sk / np.sqrt(len(zk))
            self.assertTrue(np.all(np.abs(zk.mean(0) - means[k]) < tol))
            self.assertTrue(np.all(np.abs(zk.std(0) - sk) < tol))
        self.assertAllClose(z.mean(0), weights @ means, atol=0.15)

    def test_samples_reproducible_given_seed(self):
        a = keras_vae.priors.MixtureOfGaussians(3, latent_dim=2, seed=7)
        b = keras_vae.priors.MixtureOfGaussians(3, latent_dim=2, seed=7)
        self.assertAllClose(a.sample(6), b.sample(6), rtol=0, atol=0)

    def test_weights_and_learnable_flags(self):
        prior = keras_vae.priors.MixtureOfGaussians(4, latent_dim=3)
        prior.build((None, 3))
        self.assertEqual(tuple(prior.means.shape), (4, 3))
        self.assertEqual(tuple(prior.log_scales.shape), (4, 3))
        self.assertEqual(tuple(prior.logits.shape), (4,))
        self.assertEqual(len(prior.trainable_weights), 3)
        fixed = keras_vae.priors.MixtureOfGaussians(4, latent_dim=3, learn_weights=False)
        fixed.build((None, 3))
        self.assertFalse(fixed.logits.trainable)
        self.assertEqual(len(fixed.trainable_weights), 2)

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.priors.MixtureOfGaussians,
            {"num_components": 3, "latent_dim": 2, "seed": 3},
            input_shape=(4, 2),
            expected_output_shape=(4,),
        )


@pytest.mark.parametrize("num_components", [0, -1, 2.5, True, None])
def test_bad_num_components_raise(num_components):
    with pytest.raises(ValueError) as info:
        keras_vae.priors.MixtureOfGaussians(num_components, latent_dim=2)
    assert "Expected `num_components` to be a positive integer" in str(info.value)
    assert f"Received: num_components={num_components!r}" in str(info.value)
