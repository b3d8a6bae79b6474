import keras
import numpy as np
import pytest
from scipy import stats

import keras_vae
from keras_vae.testing import TestCase
from keras_vae.testing.backend import compiled as xla
from keras_vae.testing.backend import value_and_grad

# Linear-Gaussian hierarchy: ζ ~ N(0, 1), z | ζ ~ N(a ζ + b, diag s^2), so
# p(z) = N(b, a a^T + diag s^2) and p(ζ | z) = N(m(z), v) in closed form.
A = np.array([1.5, -0.7], "float32")
B = np.array([0.3, -0.2], "float32")
S = np.array([0.5, 0.8], "float32")
V = 1.0 / (1.0 + np.sum(A**2 / S**2))


def _set_head(head, kernel_loc, bias_loc, log_var):
    dim_in, units = head.kernel.shape[0], head.units
    kernel = np.zeros((dim_in, 2 * units), "float32")
    kernel[:, :units] = kernel_loc
    bias = np.concatenate([bias_loc, log_var]).astype("float32")
    head.kernel.assign(kernel)
    head.bias.assign(bias)


def linear_prior(exact_inference, num_samples=10):
    prior = keras_vae.priors.HierarchicalPrior(
        latent_dim=2, zeta_dim=1, hidden_units=(), num_importance_samples=num_samples, seed=3
    )
    prior.build((None, 2))
    _set_head(prior.conditional_head, A[None, :], B, np.log(S**2))
    if exact_inference:
        w = V * A / S**2
        _set_head(prior.inference_head, w[:, None], [-np.sum(w * B)], [np.log(V)])
    else:
        # q(ζ | z) = N(0, 1): the prior itself, a poor proposal.
        _set_head(prior.inference_head, np.zeros((2, 1)), [0.0], [0.0])
    return prior


def exact_log_prob(z):
    cov = np.outer(A, A) + np.diag(S**2)
    return stats.multivariate_normal(B, cov).logpdf(z)


class HierarchicalPriorTest(TestCase):
    def setUp(self):
        super().setUp()
        self.z = np.random.default_rng(0).normal(size=(64, 2)).astype("float32") * 1.5

    def test_exact_posterior_gives_exact_marginal(self):
        prior = linear_prior(exact_inference=True, num_samples=3)
        log_w = prior.log_weights(self.z)
        # With q(ζ|z) = p(ζ|z) every weight equals p(z): zero variance.
        for k in range(3):
            self.assertAllClose(log_w[k], exact_log_prob(self.z), atol=2e-4, rtol=1e-5)
        self.assertAllClose(prior.log_prob(self.z), exact_log_prob(self.z), atol=2e-4, rtol=1e-5)

    def test_bound_increases_with_k_and_approaches_exact_marginal(self):
        prior = linear_prior(exact_inference=False)
        exact = exact_log_prob(self.z)
        repeats = 200
        means = {}
        for k in (1, 10, 100, 2000):
            z = np.tile(self.z, (repeats, 1))
            values = np.asarray(prior.log_prob(z, num_importance_samples=k)).reshape(repeats, -1)
            means[k] = values.mean(axis=0)
            self.assertTrue(np.all(means[k] <= exact + 0.05), msg=f"K={k} above log p(z)")
        gaps = [np.mean(exact - means[k]) for k in (1, 10, 100, 2000)]
        self.assertTrue(all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:])), msg=str(gaps))
        # K = 1 is the ELBO of p(z): its gap is the mean KL(q || p(ζ|z)) > 0.
        self.assertGreater(gaps[0], 0.3)
        self.assertLess(gaps[-1], 0.02)

    def test_sample_moments_match_the_marginal(self):
        prior = linear_prior(exact_inference=True)
        z = np.asarray(prior.sample(40000))
        self.assertAllClose(z.mean(axis=0), B, atol=0.03)
        self.assertAllClose(np.cov(z.T), np.outer(A, A) + np.diag(S**2), atol=0.05)

    def test_gradients_reach_both_networks_and_z(self):
        prior = keras_vae.priors.HierarchicalPrior(latent_dim=3, hidden_units=(8,), seed=1)
        z = self.z[:8, :1].repeat(3, axis=1)
        prior.build((None, 3))
        _, grads = value_and_grad(
            lambda z: keras.ops.sum(prior.log_prob(z)), [z], prior.trainable_variables
        )
        # Per network: one GatedDense (fused kernel, bias) and one head.
        self.assertEqual(len(prior.trainable_variables), 2 * (2 + 2))
        for g in grads:
            self.assertIsNotNone(g)
            self.assertGreater(float(np.max(np.abs(keras.ops.convert_to_numpy(g)))), 0.0)

    def test_xla_equals_eager_and_shapes_follow_z(self):
        prior = keras_vae.priors.HierarchicalPrior(latent_dim=2, hidden_units=(8,), seed=1)
        prior.build((None, 2))
        z = self.z[:6].reshape(2, 3, 2)
        fn = xla(lambda z: prior.log_weights(z, 4), state=[prior])
        self.assertEqual(tuple(fn(z).shape), (4, 2, 3))
        self.assertEqual(tuple(prior.log_prob(z).shape), (2, 3))
        self.assertEqual(prior.zeta_dim, 2)

    def test_xla_values_equal_eager_values(self):
        # TF's stateless RNG draws different numbers under XLA than eagerly
        # for the same seed state (measured), and each call here draws from
        # the next seed state, so values are compared where they do not
        # depend on the draws, and in distribution where they do.
        # (1) Exact q(ζ|z): every weight is log p(z), compiled or not.
        prior = linear_prior(exact_inference=True, num_samples=3)
        compiled = xla(lambda z: prior.log_weights(z), state=[prior])
        exact = exact_log_prob(self.z)
        self.assertAllClose(compiled(self.z), np.broadcast_to(exact, (3, 64)), atol=2e-4)
        self.assertAllClose(compiled(self.z), prior.log_weights(self.z), atol=1e-5)
        # (2) A nonlinear prior: the mean and spread of 4000 log-weights per
        # z agree between XLA and eager within their standard errors.
        prior = keras_vae.priors.HierarchicalPrior(latent_dim=2, hidden_units=(8,), seed=1)
        prior.build((None, 2))
        z = self.z[:4]
        k = 4000
        compiled = xla(lambda z: prior.log_weights(z, k), state=[prior])
        eager_w, xla_w = np.asarray(prior.log_weights(z, k)), np.asarray(compiled(z))
        self.assertFalse(np.allclose(eager_w, xla_w))  # really random draws
        se = np.sqrt((eager_w.var(0) + xla_w.var(0)) / k)
        self.assertTrue(
            np.all(np.abs(eager_w.mean(0) - xla_w.mean(0)) < 5 * se + 1e-3),
            msg=f"{eager_w.mean(0)} vs {xla_w.mean(0)} (se {se})",
        )
        # (3) log_prob (log-mean-exp of the weights) under XLA converges to
        # the exact marginal from a poor proposal, as it does eagerly.
        prior = linear_prior(exact_inference=False)
        compiled = xla(lambda z: prior.log_prob(z, num_importance_samples=2000), state=[prior])
        repeats = 50
        values = np.asarray(compiled(np.tile(self.z, (repeats, 1)))).reshape(repeats, -1)
        se = values.std(axis=0, ddof=1) / np.sqrt(repeats)
        gap = exact - values.mean(axis=0)
        self.assertTrue(np.all(np.abs(gap) < 5 * se + 0.01), msg=f"{gap} (se {se})")
        self.assertLess(abs(gap.mean()), 0.01)

    def test_config_round_trip(self):
        prior = keras_vae.priors.HierarchicalPrior(
            latent_dim=3, zeta_dim=2, hidden_units=(5, 4), num_importance_samples=7, seed=2
        )
        restored = keras_vae.priors.HierarchicalPrior.from_config(prior.get_config())
        for key in ("latent_dim", "zeta_dim", "hidden_units", "num_importance_samples", "seed"):
            self.assertEqual(getattr(restored, key), getattr(prior, key))

    def test_bad_arguments(self):
        for kwargs, match in (
            ({"num_importance_samples": 0}, "num_importance_samples"),
            ({"zeta_dim": 0}, "zeta_dim"),
            ({"hidden_units": (4, -1)}, "hidden_units"),
        ):
            with pytest.raises(ValueError, match=match):
                keras_vae.priors.HierarchicalPrior(latent_dim=2, **kwargs)
        prior = keras_vae.priors.HierarchicalPrior(latent_dim=2)
        with pytest.raises(ValueError, match="num_importance_samples"):
            prior.log_weights(self.z, 0)
        with pytest.raises(ValueError, match="latent"):
            keras_vae.priors.HierarchicalPrior().sample(2)
