"""VHPVAE's joint (z, ζ) importance-sampled log p(x) against a closed form.

`linear_gaussian_vhp_vae`: a linear-Gaussian decoder, a linear
`HierarchicalPrior` (`hidden_units=()`) and one-dimensional z and ζ, so the
marginal p(x) is Gaussian and the exact joint posterior is representable.
"""

import numpy as np
from scipy import stats

from keras_vae.testing import TestCase
from keras_vae.testing.linear_gaussian import linear_gaussian_vhp_vae


def _x(n, seed):
    return np.random.default_rng(seed).normal(size=(n, 3)).astype("float32")


class LinearGaussianVHPVAETest(TestCase):
    def test_closed_form_is_the_gaussian_marginal(self):
        # The oracle itself, against scipy and a Monte Carlo draw of the model.
        model, exact = linear_gaussian_vhp_vae(seed=0)
        prior = model.prior
        alpha = float(prior.conditional_head.kernel.numpy()[0, 0])
        beta = float(prior.conditional_head.bias.numpy()[0])
        sigma2 = float(np.exp(prior.conditional_head.bias.numpy()[1]))
        dense = model.decoder.layers[0]
        w, b = dense.kernel.numpy()[0].astype("f8"), dense.bias.numpy().astype("f8")
        cov = (alpha**2 + sigma2) * np.outer(w, w) + 0.25 * np.eye(3)
        x = _x(6, 1)
        want = stats.multivariate_normal(w * beta + b, cov).logpdf(x)
        self.assertAllClose(exact(x), want, atol=1e-6)

    def test_every_joint_weight_is_log_px_at_the_exact_posterior(self):
        model, exact = linear_gaussian_vhp_vae(seed=0)
        x = _x(6, 1)
        log_w = np.asarray(model.log_importance_weights(x, 7))
        self.assertEqual(log_w.shape, (7, 6))
        self.assertAllClose(log_w, np.broadcast_to(exact(x), (7, 6)), atol=1e-4)
        self.assertAllClose(model.log_likelihood(x, num_importance_samples=30), exact(x), atol=1e-4)

    def test_estimate_converges_from_a_worse_posterior(self):
        model, exact = linear_gaussian_vhp_vae(seed=2, posterior="perturbed")
        x = _x(8, 3)
        truth = exact(x)
        estimate = np.asarray(model.log_likelihood(x, num_importance_samples=5000))
        self.assertLess(np.max(np.abs(estimate - truth)), 0.06)
        self.assertLess(abs(np.mean(estimate - truth)), 0.02)
        # k = 1 is an ELBO of the joint: below log p(x) by a clear margin.
        rep = np.repeat(x, 500, axis=0)
        k1 = np.asarray(model.log_likelihood(rep, num_importance_samples=1)).reshape(8, 500).mean(1)
        self.assertLess(np.mean(k1), np.mean(truth) - 0.1)

    def test_exported_log_likelihood_signature_is_exact(self):
        import tensorflow as tf

        from keras_vae.export import export_for_serving

        model, exact = linear_gaussian_vhp_vae(seed=0)
        x = _x(6, 1)
        path = export_for_serving(
            model, self.get_temp_dir() + "/vhp", signatures=("log_likelihood",),
            chunk_size=5,
        )  # fmt: skip
        fn = tf.saved_model.load(path).signatures["log_likelihood"]
        for num_samples in (1, 7):
            out = fn(x=tf.constant(x), num_importance_samples=tf.constant(num_samples))
            self.assertAllClose(out["log_likelihood"], exact(x), atol=1e-4)
