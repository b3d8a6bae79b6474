"""StandardNormal prior: log-density, closed-form KL and sampling."""

import numpy as np
import pytest
import scipy.stats

import keras_vae
from keras_vae import testing


def _kl_oracle(loc, scale):
    loc, scale = np.asarray(loc, "float64"), np.asarray(scale, "float64")
    return 0.5 * np.sum(loc**2 + scale**2 - 1.0, -1) - np.sum(np.log(scale), -1)


class StandardNormalTest(testing.TestCase):
    def test_log_prob_matches_scipy(self):
        z = np.random.RandomState(0).normal(scale=2.0, size=(7, 4)).astype("float32")
        got = keras_vae.priors.StandardNormal(latent_dim=4).log_prob(z)
        want = scipy.stats.multivariate_normal(np.zeros(4), np.eye(4)).logpdf(z)
        self.assertAllClose(got, want, rtol=1e-6, atol=1e-5)

    def test_log_prob_keeps_leading_axes(self):
        z = np.random.RandomState(1).normal(size=(3, 5, 2)).astype("float32")
        got = keras_vae.priors.StandardNormal(latent_dim=2).log_prob(z)
        self.assertEqual(tuple(got.shape), (3, 5))
        self.assertAllClose(got, scipy.stats.norm.logpdf(z).sum(-1), rtol=1e-6)

    def test_kl_matches_closed_form(self):
        rng = np.random.RandomState(2)
        loc = rng.normal(size=(5, 3)).astype("float32")
        scale = rng.uniform(0.2, 2.0, size=(5, 3)).astype("float32")
        got = keras_vae.priors.StandardNormal(latent_dim=3).kl_divergence(loc, scale)
        self.assertEqual(tuple(got.shape), (5,))
        self.assertAllClose(got, _kl_oracle(loc, scale), rtol=1e-5, atol=1e-6)

    def test_kl_matches_monte_carlo(self):
        # KL(q || p) = E_q[log q(z) - log p(z)], with the prior's own log_prob.
        n = 200_000
        prior = keras_vae.priors.StandardNormal(latent_dim=3)
        loc = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]], "float32")
        scale = np.array([[0.3, 1.5, 0.8], [1.0, 0.5, 2.0]], "float32")
        closed = np.asarray(prior.kl_divergence(loc, scale))
        rng = np.random.RandomState(3)
        for i in range(2):
            z = (loc[i] + scale[i] * rng.normal(size=(n, 3))).astype("float32")
            log_q = scipy.stats.norm.logpdf(z, loc[i], scale[i]).sum(-1)
            terms = log_q - np.asarray(prior.log_prob(z))
            stderr = terms.std() / np.sqrt(n)
            self.assertLess(stderr, 0.02)
            self.assertLess(abs(terms.mean() - closed[i]), 5 * stderr)

    def test_kl_is_zero_at_the_prior(self):
        prior = keras_vae.priors.StandardNormal(latent_dim=2)
        kl = prior.kl_divergence(np.zeros((1, 2), "f4"), np.ones((1, 2), "f4"))
        self.assertAllClose(kl, [0.0], atol=1e-7)
        self.assertTrue(prior.has_analytic_kl)

    def test_samples(self):
        prior = keras_vae.priors.StandardNormal(latent_dim=3, seed=4)
        z = np.asarray(prior.sample(40_000)).astype("float64")
        self.assertEqual(z.shape, (40_000, 3))
        self.assertTrue(np.all(np.abs(z.mean(0)) < 5 / np.sqrt(40_000)))
        self.assertTrue(np.all(np.abs(z.std(0) - 1) < 5 / np.sqrt(80_000)))
        corr = np.corrcoef(z.T)[np.triu_indices(3, 1)]
        self.assertTrue(np.all(np.abs(corr) < 5 / np.sqrt(40_000)))

    def test_samples_reproducible_given_seed(self):
        a = keras_vae.priors.StandardNormal(latent_dim=2, seed=9).sample(5)
        b = keras_vae.priors.StandardNormal(latent_dim=2, seed=9).sample(5)
        self.assertAllClose(a, b, rtol=0, atol=0)

    def test_latent_dim_from_build(self):
        prior = keras_vae.priors.StandardNormal()
        prior.build((None, 6))
        self.assertEqual(prior.latent_dim, 6)
        self.assertEqual(tuple(prior.sample(2).shape), (2, 6))

    def test_layer_contract(self):
        self.run_layer_test(
            keras_vae.priors.StandardNormal,
            {"latent_dim": 2},
            input_shape=(3, 2),
            expected_output_shape=(3,),
        )


def test_latent_size_mismatch_raises():
    prior = keras_vae.priors.StandardNormal(latent_dim=3)
    with pytest.raises(ValueError, match="latent_dim=3"):
        prior.build((None, 4))


def test_sample_without_latent_dim_raises():
    with pytest.raises(ValueError, match="latent_dim=None"):
        keras_vae.priors.StandardNormal().sample(2)


@pytest.mark.parametrize("latent_dim", [0, -1, 2.5])
def test_bad_latent_dim_raises(latent_dim):
    with pytest.raises(ValueError, match="Expected `latent_dim` to be a positive"):
        keras_vae.priors.StandardNormal(latent_dim=latent_dim)
