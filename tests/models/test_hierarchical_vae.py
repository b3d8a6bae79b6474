"""HierarchicalVAE: log weights against an exact linear-Gaussian model, API, errors."""

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.models import HierarchicalVAE
from keras_vae.testing.linear_gaussian import hvae_parameters
from keras_vae.testing.linear_gaussian import linear_gaussian_hvae
from keras_vae.testing.linear_gaussian import linear_gaussian_hvae_kls


def _binary(n, shape=(6, 6, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n,) + shape) < 0.4).astype("float32")


def _small(**kwargs):
    return HierarchicalVAE(latent_dims=(3, 2), hidden_units=16, seed=0, **kwargs)


class ExactLikelihoodTest(testing.TestCase):
    """p(z2) p(z1|z2) p(x|z1,z2) linear-Gaussian: log p(x) in closed form."""

    def test_every_log_weight_is_log_px_at_the_true_posterior(self):
        model, exact = linear_gaussian_hvae(seed=0)
        x = np.random.default_rng(1).normal(size=(5, 4)).astype("f4")
        log_w = model.log_importance_weights(x, 7).numpy()
        self.assertEqual(log_w.shape, (7, 5))
        self.assertAllClose(log_w, np.broadcast_to(exact(x), (7, 5)), atol=1e-4)
        # `log_likelihood` runs the same weights XLA-compiled, in chunks.
        estimate = model.log_likelihood(x, num_importance_samples=30, chunk_size=8)
        self.assertAllClose(estimate, exact(x), atol=1e-4)

    def test_elbo_metrics_are_unbiased_for_log_px(self):
        model, exact = linear_gaussian_hvae(seed=2)
        x = np.repeat(np.random.default_rng(3).normal(size=(1, 4)), 20_000, 0)
        for analytic in (True, False):
            model.analytic_kl = analytic
            terms = model.compute_terms(x.astype("f4"))
            self.assertEqual(terms["elbo"].shape, (20_000,))
            self.assertAllClose(np.mean(terms["elbo"]), exact(x[:1])[0], atol=0.02)
            self.assertAllClose(terms["kl"], terms["kl_1"] + terms["kl_2"], atol=1e-4)

    def test_per_layer_kls_match_their_closed_forms(self):
        # kl_z2 = KL(q(z2|x) || p(z2)); kl_z1 = E_q(z2|x) KL(q(z1|x,z2) || p(z1|z2)),
        # from numpy. A perturbed posterior keeps both terms away from their
        # exact-posterior values, so a swap of the two or of q and p shows.
        for posterior in ("exact", "perturbed"):
            model, _ = linear_gaussian_hvae(seed=6, posterior=posterior)
            x = np.random.default_rng(7).normal(size=(4, 4)).astype("f4")
            oracle_z1, oracle_z2 = linear_gaussian_hvae_kls(x, seed=6, posterior=posterior)
            big = np.repeat(x, 2_000, axis=0)  # 8000 rows, 4 distinct x
            for analytic in (True, False):
                model.analytic_kl = analytic
                # Ten independent batch means give the Monte Carlo standard error.
                runs = [model.compute_terms(big) for _ in range(10)]
                for key, oracle in (("kl_1", oracle_z1), ("kl_2", oracle_z2)):
                    means = np.array([np.mean(t[key]) for t in runs])
                    se = means.std(ddof=1) / np.sqrt(len(means))
                    self.assertAllClose(
                        means.mean(),
                        oracle.mean(),
                        atol=5 * se + 2e-3,
                        msg=f"{key} {posterior} analytic={analytic}",
                    )
                if analytic:  # exact for every draw and example: q(z2|x) is Gaussian
                    for t in runs:
                        self.assertAllClose(
                            np.reshape(t["kl_2"], (4, 2_000)),
                            np.repeat(oracle_z2[:, None], 2_000, axis=1),
                            atol=1e-4,
                        )

    def test_sample_moments_match_the_generative_model(self):
        # sample() = E[x | z1, z2] = B z1 + C z2 + b at z2 ~ N(0, 1),
        # z1 ~ p(z1 | z2) (ancestral): mean m, covariance Cov(x) - s^2 I.
        model, _ = linear_gaussian_hvae(seed=8, scale=0.5)
        prm = hvae_parameters(4, 2, 0.5, 8, "exact")
        samples = np.asarray(model.sample(40_000), "float64")
        self.assertEqual(samples.shape, (40_000, 4))
        cov = prm["m_mat"] @ prm["m_mat"].T + prm["s_mat"] - 0.25 * np.eye(4)
        self.assertAllClose(samples.mean(0), prm["m_vec"], atol=0.04)
        self.assertAllClose(np.cov(samples.T), cov, atol=0.08)

    def test_iwae_converges_to_log_px_from_a_worse_posterior(self):
        model, exact = linear_gaussian_hvae(seed=4, posterior="perturbed")
        x = np.random.default_rng(5).normal(size=(6, 4)).astype("f4")
        truth = exact(x)
        self.assertAllClose(model.log_likelihood(x, num_importance_samples=5000), truth, atol=0.05)
        # In expectation (1000 repeats of one x) the bound rises with k.
        rep = np.repeat(x[:1], 1000, axis=0)
        means = [
            float(np.mean(model.log_likelihood(rep, num_importance_samples=k))) for k in (1, 20)
        ]
        self.assertLess(means[0] + 0.05, means[1])
        self.assertLess(means[1], truth[0])


class HierarchicalVAETest(testing.TestCase):
    def test_training_reports_per_layer_kl(self):
        x = _binary(40)
        model = _small(prior=keras_vae.priors.VampPrior(5))
        model.compile(optimizer="adam", jit_compile=True)
        history = model.fit(
            x, epochs=2, batch_size=20, verbose=0, callbacks=[keras_vae.callbacks.KLWarmUp(2)]
        )
        logs = history.history
        for key in ("elbo", "kl_1", "kl_2", "kl", "reconstruction", "beta"):
            self.assertTrue(np.all(np.isfinite(logs[key])), key)
        self.assertEqual(logs["beta"], [0.0, 0.5])
        self.assertAllClose(logs["loss"][0], -logs["reconstruction"][0], rtol=1e-5)

    def test_iwae_objective_reports_the_bound(self):
        x = _binary(8)
        model = _small(objective="iwae", num_importance_samples=4)
        terms = model.compute_terms(model_input(model, x))
        self.assertIn("iwae_bound", terms)
        self.assertAllClose(terms["loss"], -terms["iwae_bound"], rtol=1e-6)

    def test_x_branch_runs_once_per_example(self):
        x = _binary(3)
        model = _small(objective="iwae", num_importance_samples=6)
        model.build((None,) + x.shape[1:])
        seen = []
        branch = model.encoder_z1_x
        model.encoder_z1_x = lambda v, training=False: seen.append(v.shape) or branch(v)
        model.compute_terms(x)
        self.assertEqual(seen, [(3, 6, 6, 1)])

    def test_encode_decode_sample_and_active_units(self):
        x = _binary(10)
        model = _small()
        (loc1, scale1), (loc2, scale2) = model.encode(x)
        self.assertEqual((loc1.shape, scale1.shape), ((10, 3), (10, 3)))
        self.assertEqual((loc2.shape, scale2.shape), ((10, 2), (10, 2)))
        self.assertEqual(model.decode(loc1, loc2).shape, (10, 6, 6, 1))
        self.assertAllClose(model.reconstruct(x), model.decode(loc1, loc2), atol=1e-6)
        samples = model.sample(4).numpy()
        self.assertEqual(samples.shape, (4, 6, 6, 1))
        self.assertTrue(((samples >= 0) & (samples <= 1)).all())
        units = keras_vae.diagnostics.active_units(model, x)
        self.assertEqual([len(u.variances) for u in units], [3, 2])
        self.assertEqual(model.latent_dims, (3, 2))

    def test_convolutional_variant_trains_and_round_trips(self):
        x = _binary(8, (8, 8, 1))
        model = _small(architecture="gated_conv", prior=keras_vae.priors.VampPrior(3))
        # No XLA (~5 s a model): the round trip is checked; the gated conv
        # model's XLA training is the conformance suite's (HierarchicalVAE[1]).
        model.compile(optimizer="adam", jit_compile=False)
        model.fit(x, epochs=1, batch_size=8, verbose=0)
        path = self.get_temp_dir() + "/conv.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        self.assertEqual(loaded.architecture, "gated_conv")
        for a, b in zip(loaded.weights, model.weights):
            self.assertAllClose(a, b)
        self.assertAllClose(loaded.encode(x)[1][0], model.encode(x)[1][0], atol=1e-6)

    def test_custom_networks_are_serialized(self):
        z1, z2 = keras.Input((3,)), keras.Input((2,))
        h = keras.layers.Concatenate()([z1, z2])
        decoder = keras.Model([z1, z2], keras.layers.Reshape((6, 6, 1))(keras.layers.Dense(36)(h)))
        model = _small(decoder=decoder)
        model.build((None, 6, 6, 1))
        config = model.get_config()
        self.assertIsNotNone(config["decoder"])
        self.assertIsNone(config["encoder_z2"])
        clone = HierarchicalVAE.from_config(config)
        clone.build((None, 6, 6, 1))
        self.assertEqual(clone.decoder.count_params(), decoder.count_params())


def model_input(model, x):
    model.build((None,) + x.shape[1:])
    return x


class HierarchicalVAEErrorTest(testing.TestCase):
    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="architecture"):
            HierarchicalVAE(architecture="resnet")
        with pytest.raises(ValueError, match="latent_dims"):
            HierarchicalVAE(latent_dims=(0, 40))
        with pytest.raises(ValueError, match="objective"):
            HierarchicalVAE(objective="vae")

    def test_decoder_with_wrong_output_shape(self):
        z1, z2 = keras.Input((3,)), keras.Input((2,))
        bad = keras.Model([z1, z2], keras.layers.Dense(5)(z1))
        with pytest.raises(ValueError, match="decoder to output"):
            _small(decoder=bad).build((None, 6, 6, 1))

    def test_input_shape_is_checked(self):
        model = _small()
        model.build((None, 6, 6, 1))
        with pytest.raises(ValueError, match=r"Expected `x` of shape"):
            model.encode(np.zeros((2, 5, 5, 1), "f4"))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            model.encode(np.full((2, 6, 6, 1), 2.0, "f4"))
        with pytest.raises(ValueError, match=r"`z2` of shape \(batch, 2\)"):
            model.decode(np.zeros((2, 3), "f4"), np.zeros((2, 3), "f4"))
