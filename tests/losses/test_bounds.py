"""Variational bounds and losses against numpy oracles and a Gaussian toy model."""

import math

import numpy as np
import scipy.special
import scipy.stats

import keras_vae
from keras_vae import testing


def _log_mean_exp(a, axis=0):
    a = np.asarray(a, "float64")
    return scipy.special.logsumexp(a, axis=axis) - math.log(a.shape[axis])


class IWAEBoundTest(testing.TestCase):
    def test_matches_numpy_log_mean_exp(self):
        log_w = np.random.RandomState(0).normal(scale=5.0, size=(7, 4)).astype("f4")
        got = keras_vae.losses.iwae_bound(log_w)
        self.assertEqual(tuple(got.shape), (4,))
        self.assertAllClose(got, _log_mean_exp(log_w, 0), rtol=1e-6, atol=1e-5)
        # A direct log(mean(exp)) in float64 agrees where it does not underflow.
        self.assertAllClose(got, np.log(np.exp(log_w.astype("f8")).mean(0)), rtol=1e-5)

    def test_other_axis(self):
        log_w = np.random.RandomState(1).normal(size=(3, 9)).astype("f4")
        got = keras_vae.losses.iwae_bound(log_w, axis=1)
        self.assertAllClose(got, _log_mean_exp(log_w, 1), rtol=1e-6)

    def test_stable_for_very_negative_and_positive_log_weights(self):
        offsets = np.random.RandomState(2).normal(size=(5, 3))
        for shift in (-1e4, 1e4):
            log_w = (shift + offsets).astype("float32")
            got = np.asarray(keras_vae.losses.iwae_bound(log_w))
            self.assertTrue(np.isfinite(got).all(), got)
            # float32 resolves 1e4 to ~1e-3; the oracle is shift + lme(offsets).
            want = shift + _log_mean_exp(log_w.astype("f8") - shift, 0)
            self.assertAllClose(got, want, rtol=0, atol=2e-3)

    def test_single_sample_is_the_log_weight(self):
        log_w = np.array([[-3.5, 2.0]], "float32")
        self.assertAllClose(keras_vae.losses.iwae_bound(log_w), log_w[0])

    def test_bounded_by_max_and_mean(self):
        # mean(log w) <= L_k <= max(log w) (Jensen, and the log-sum-exp bound).
        log_w = np.random.RandomState(3).normal(scale=3.0, size=(10, 50)).astype("f4")
        got = np.asarray(keras_vae.losses.iwae_bound(log_w))
        self.assertTrue(np.all(got >= log_w.mean(0) - 1e-5))
        self.assertTrue(np.all(got <= log_w.max(0) + 1e-5))

    def test_log_mean_exp_function(self):
        a = np.random.RandomState(4).normal(size=(6, 2)).astype("f4")
        self.assertAllClose(
            keras_vae.losses.log_mean_exp(a, axis=0), _log_mean_exp(a, 0), rtol=1e-6
        )


class ELBOTest(testing.TestCase):
    def test_single_sample_terms(self):
        rec = np.array([-90.0, -80.0], "float32")
        kl = np.array([20.0, 5.0], "float32")
        self.assertAllClose(keras_vae.losses.elbo(rec, kl), [-110.0, -85.0])
        self.assertAllClose(keras_vae.losses.elbo(rec, kl, beta=0.5), [-100.0, -82.5])
        self.assertAllClose(keras_vae.losses.elbo(rec, kl, beta=0.0), rec)

    def test_monte_carlo_terms_are_averaged_over_samples(self):
        rng = np.random.RandomState(5)
        rec = rng.normal(size=(4, 3)).astype("f4")
        kl = rng.uniform(size=(4, 3)).astype("f4")
        got = keras_vae.losses.elbo(rec, kl, beta=0.3)
        self.assertAllClose(got, rec.mean(0) - 0.3 * kl.mean(0), rtol=1e-6)
        # An analytic (batch,) KL with (k, batch) reconstructions.
        got = keras_vae.losses.elbo(rec, kl[0], beta=2.0)
        self.assertAllClose(got, rec.mean(0) - 2.0 * kl[0], rtol=1e-6)


def _ignored(y_pred):
    """A y_true for the losses, which ignore it."""
    return np.zeros_like(y_pred)


class LossClassesTest(testing.TestCase):
    def test_y_true_none_as_documented(self):
        # The loss classes take the sample axis first: (k, batch).
        y_pred = np.array([[-1.0], [-3.0]], "float32")
        self.assertAllClose(keras_vae.losses.ELBOLoss()(None, y_pred), 2.0)
        self.assertAllClose(
            keras_vae.losses.IWAELoss()(None, np.log([[1.0], [3.0]])), -math.log(2.0)
        )

    def test_elbo_loss_value(self):
        y_pred = np.random.RandomState(6).normal(size=(5, 4)).astype("f4")
        loss = keras_vae.losses.ELBOLoss()
        self.assertAllClose(loss(_ignored(y_pred.T), y_pred.T), -y_pred.mean(), rtol=1e-6)
        loss = keras_vae.losses.ELBOLoss(reduction=None)
        per_example = loss(_ignored(y_pred.T), y_pred.T)
        self.assertAllClose(per_example, -y_pred.mean(1), rtol=1e-6)

    def test_iwae_loss_value(self):
        y_pred = np.random.RandomState(7).normal(scale=4.0, size=(5, 6)).astype("f4")
        loss = keras_vae.losses.IWAELoss()
        want = -_log_mean_exp(y_pred, 1)
        self.assertAllClose(loss(_ignored(y_pred.T), y_pred.T), want.mean(), rtol=1e-5)
        loss = keras_vae.losses.IWAELoss(reduction=None)
        per_example = loss(_ignored(y_pred.T), y_pred.T)
        self.assertAllClose(per_example, -_log_mean_exp(y_pred, 1), rtol=1e-5)

    def test_iwae_loss_with_one_sample_equals_elbo_loss(self):
        y_pred = np.random.RandomState(8).normal(scale=10.0, size=(9, 1)).astype("f4")
        self.assertAllClose(
            keras_vae.losses.IWAELoss()(_ignored(y_pred.T), y_pred.T),
            keras_vae.losses.ELBOLoss()(_ignored(y_pred.T), y_pred.T),
            rtol=1e-6,
        )

    def test_iwae_loss_is_below_elbo_loss(self):
        y_pred = np.random.RandomState(9).normal(scale=2.0, size=(9, 8)).astype("f4")
        iwae = float(keras_vae.losses.IWAELoss()(_ignored(y_pred.T), y_pred.T))
        elbo = float(keras_vae.losses.ELBOLoss()(_ignored(y_pred.T), y_pred.T))
        self.assertLess(iwae, elbo)

    def test_config_round_trip(self):
        for cls in (keras_vae.losses.ELBOLoss, keras_vae.losses.IWAELoss):
            restored = testing.run_serialization_test(cls(reduction="sum", name="x"))
            self.assertEqual(restored.reduction, "sum")
            self.assertEqual(restored.name, "x")


class GaussianToyTest(testing.TestCase):
    """p(z) = N(0, 1), p(x|z) = N(z, 1), so p(x) = N(0, 2) exactly.

    With a deliberately poor proposal q(z|x) = N(0.2 x, 1.2^2) (the exact
    posterior is N(x/2, 1/2)), the expected bound E[L_k] must increase with k
    towards log p(x), and E[L_1] must equal the closed-form ELBO.
    """

    x, q_loc, q_scale = 1.5, 0.3, 1.2
    repeats = 20_000

    def _log_weights(self, k, seed):
        rng = np.random.RandomState(seed)
        z = self.q_loc + self.q_scale * rng.normal(size=(k, self.repeats))
        return (
            scipy.stats.norm.logpdf(self.x, z, 1.0)
            + scipy.stats.norm.logpdf(z, 0.0, 1.0)
            - scipy.stats.norm.logpdf(z, self.q_loc, self.q_scale)
        ).astype("float32")

    def test_expected_bound_increases_with_k_towards_log_px(self):
        log_px = scipy.stats.norm.logpdf(self.x, 0.0, math.sqrt(2.0))
        means, errors = [], []
        for k in (1, 2, 5, 20, 100):
            bounds = np.asarray(keras_vae.losses.iwae_bound(self._log_weights(k, seed=k)))
            means.append(bounds.mean())
            errors.append(bounds.std() / math.sqrt(self.repeats))
        for i in range(len(means) - 1):
            gap = means[i + 1] - means[i]
            self.assertGreater(gap, 3 * math.hypot(errors[i], errors[i + 1]), means)
        self.assertTrue(all(m < log_px for m in means), (means, log_px))
        self.assertLess(log_px - means[-1], 0.02)
        self.assertGreater(log_px - means[0], 0.2)

    def test_single_sample_bound_is_the_elbo(self):
        # ELBO = E_q[log p(x|z)] + E_q[log p(z)] + H[q] for Gaussians.
        m, s, x = self.q_loc, self.q_scale, self.x
        e_log_lik = -0.5 * math.log(2 * math.pi) - 0.5 * ((x - m) ** 2 + s**2)
        e_log_prior = -0.5 * math.log(2 * math.pi) - 0.5 * (m**2 + s**2)
        entropy = 0.5 * math.log(2 * math.pi * math.e * s**2)
        elbo = e_log_lik + e_log_prior + entropy
        bounds = np.asarray(keras_vae.losses.iwae_bound(self._log_weights(1, seed=0)))
        stderr = bounds.std() / math.sqrt(self.repeats)
        self.assertLess(abs(bounds.mean() - elbo), 5 * stderr)
