"""LadderVAE: per-layer KL against closed forms, bounds, free bits, API, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.models import LadderVAE
from keras_vae.testing.linear_gaussian import linear_gaussian_lvae
from keras_vae.testing.linear_gaussian import linear_gaussian_lvae_kls
from keras_vae.testing.linear_gaussian import lvae_parameters

DIMS, UNITS = (3, 2, 2), (8, 6, 4)


def _binary(n, shape=(6, 6, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n,) + shape) < 0.4).astype("float32")


def _small(data_shape=(6, 6, 1), **kwargs):
    kwargs = {"latent_dims": DIMS, "hidden_units": UNITS, "seed": 0, **kwargs}
    model = LadderVAE(**kwargs)
    model.build((None,) + data_shape)
    return model


def _kl(q_loc, q_scale, p_loc, p_scale):
    """Closed-form KL(N(q) || N(p)) in float64, summed over the last axis."""
    q_loc, q_scale, p_loc, p_scale = (
        np.asarray(a, "float64") for a in (q_loc, q_scale, p_loc, p_scale)
    )
    var_q, var_p = q_scale**2, p_scale**2
    terms = np.log(p_scale / q_scale) + (var_q + (q_loc - p_loc) ** 2) / (2 * var_p) - 0.5
    return terms.sum(-1)


def _log_normal(z, loc, scale):
    """log N(z; loc, scale^2) in float64, summed over the last axis."""
    z = np.asarray(z, "float64")
    return (-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)).sum(-1)


def _merge(loc_hat, scale_hat, loc_p, scale_p):
    prec_hat, prec_p = scale_hat**-2.0, scale_p**-2.0
    var = 1.0 / (prec_hat + prec_p)
    return (loc_hat * prec_hat + loc_p * prec_p) * var, np.sqrt(var)


def _set_constant(head, rng):
    """Zero a head's kernel: its Gaussian is fixed by the bias. Returns it."""
    units = head.units
    loc = rng.normal(size=units)
    log_var = rng.uniform(-1.5, 1.5, size=units)
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    head.bias.assign(np.concatenate([loc, log_var]).astype("float32"))
    return loc, np.exp(0.5 * log_var)


class ClosedFormTest(testing.TestCase):
    """Constant heads: every q(z_i | .) and p(z_i | z_{i+1}) is a known Gaussian."""

    def _constant_model(self, **kwargs):
        model = _small(**kwargs)
        rng = np.random.default_rng(7)
        hats = [_set_constant(h, rng) for h in model.bottom_up_heads]
        priors = [_set_constant(h, rng) for h in model.top_down_heads]
        qs = [_merge(*hat, *p) for hat, p in zip(hats, priors)] + [hats[-1]]
        kls = [_kl(*q, *p) for q, p in zip(qs, priors)]
        kls.append(_kl(*qs[-1], np.zeros(DIMS[-1]), np.ones(DIMS[-1])))
        return model, kls

    def test_analytic_per_layer_kl(self):
        model, kls = self._constant_model(num_importance_samples=2)
        terms = model.compute_terms(_binary(5))
        for i, want in enumerate(kls):
            self.assertAllClose(terms[f"kl_{i + 1}"], want, rtol=1e-5, atol=1e-6)
        self.assertAllClose(terms["kl"], sum(kls), rtol=1e-5)
        self.assertAllClose(terms["elbo"], terms["reconstruction"] - sum(kls), rtol=1e-5)

    def test_monte_carlo_per_layer_kl_of_the_iwae_objective(self):
        model, kls = self._constant_model(objective="iwae", num_importance_samples=8)
        terms = model.compute_terms(_binary(2000))
        # 16000 samples of log q - log p per layer: standard errors < 0.02.
        for i, want in enumerate(kls):
            self.assertEqual(terms[f"kl_{i + 1}"].shape, (2000,))
            self.assertAllClose(np.mean(terms[f"kl_{i + 1}"]), want, atol=0.06)

    def test_kl_matches_the_models_own_gaussians_at_the_sampled_latents(self):
        model = _small(num_importance_samples=3)
        x = _binary(6)
        state = model.sampler.seed_generator.state.numpy()
        terms = model.compute_terms(x)
        model.sampler.seed_generator.state.assign(state)
        _, layers = model._forward(x, 3)  # the same draws as compute_terms
        bottom_up = [[t.numpy() for t in pair] for pair in model._bottom_up_terms(x)]
        for i, (z, q, p) in enumerate(layers):
            q = [t.numpy() for t in q]
            if p is None:
                self.assertAllClose(q[0], bottom_up[i][0])
                want = _kl(*q, 0.0, 1.0)
            else:
                # p(z_i | z_{i+1}) at the sampled z_{i+1}; q is the merge.
                p = [t.numpy() for t in p]
                again = model._prior(i, layers[i + 1][0])
                self.assertAllClose(again[0], p[0], rtol=1e-5, atol=1e-6)
                merged = _merge(*[np.float64(a) for a in bottom_up[i] + p])
                self.assertAllClose(q[0], merged[0], rtol=1e-4, atol=1e-5)
                self.assertAllClose(q[1], merged[1], rtol=1e-4)
                want = _kl(*q, *p)
            self.assertEqual(want.shape, (3, 6) if p is not None else (6,))
            # Per example: averaged over the k = 3 samples.
            want = want.mean(axis=0) if want.ndim == 2 else want
            self.assertAllClose(terms[f"kl_{i + 1}"], want, rtol=1e-5, atol=1e-6)


class LinearGaussianLadderTest(testing.TestCase):
    """A linear-Gaussian ladder (`linear_gaussian_lvae`): log p(x) and the
    posterior are closed-form, and the per-layer KLs come from numpy, not
    from the model's own Gaussians."""

    def test_every_log_weight_is_log_px_at_the_true_posterior(self):
        model, exact = linear_gaussian_lvae(seed=0)
        x = np.random.default_rng(1).normal(size=(5, 4)).astype("f4")
        log_w = np.asarray(model.log_importance_weights(x, 7))
        self.assertEqual(log_w.shape, (7, 5))
        self.assertAllClose(log_w, np.broadcast_to(exact(x), (7, 5)), atol=1e-4)
        self.assertAllClose(model.log_likelihood(x, num_importance_samples=30), exact(x), atol=1e-4)

    def test_per_layer_kls_match_their_closed_forms(self):
        x = np.random.default_rng(2).normal(size=(4, 4)).astype("f4")
        big = np.repeat(x, 2_000, axis=0)
        for posterior in ("exact", "perturbed"):
            model, exact = linear_gaussian_lvae(seed=3, posterior=posterior)
            kl_1, kl_2 = linear_gaussian_lvae_kls(x, seed=3, posterior=posterior)
            runs = [model.compute_terms(big) for _ in range(10)]
            for key, oracle in (("kl_1", kl_1), ("kl_2", kl_2)):
                means = np.array([np.mean(t[key]) for t in runs])
                se = means.std(ddof=1) / np.sqrt(len(means))
                self.assertAllClose(
                    means.mean(), oracle.mean(), atol=5 * se + 2e-3, msg=f"{key} {posterior}"
                )
            # KL_L = KL(q(z_L | x) || N(0, I)) is exact for every draw and
            # every example (`big` repeats each of the 4 examples 2000 times).
            for t in runs:
                per_x = np.reshape(t["kl_2"], (4, 2_000))
                self.assertAllClose(per_x, np.repeat(kl_2[:, None], 2_000, axis=1), atol=1e-4)
            # ELBO = log p(x) - KL(q || posterior): equal only at the exact one.
            elbos = np.array([np.mean(t["elbo"]) for t in runs])
            gap = exact(x).mean() - elbos.mean()
            se = elbos.std(ddof=1) / np.sqrt(len(elbos))
            if posterior == "exact":
                self.assertLess(abs(gap), 5 * se + 2e-3)
            else:
                self.assertGreater(gap, 0.1 + 5 * se)

    def test_iwae_converges_to_log_px_from_a_worse_posterior(self):
        model, exact = linear_gaussian_lvae(seed=4, posterior="perturbed")
        x = np.random.default_rng(5).normal(size=(6, 4)).astype("f4")
        truth = exact(x)
        estimate = np.asarray(model.log_likelihood(x, num_importance_samples=5000))
        self.assertLess(np.max(np.abs(estimate - truth)), 0.1)
        self.assertLess(abs(np.mean(estimate - truth)), 0.03)
        elbo = np.mean(model.compute_terms(np.repeat(x, 500, axis=0))["elbo"])
        self.assertLess(elbo + 0.05, np.mean(estimate))

    def test_sample_moments_match_the_generative_model(self):
        # sample() = E[x | z1] = B z1 + b at z1 ~ p(z1) = N(a, A A^T + diag v)
        # (ancestral, z2 ~ N(0, 1)): mean B a + b, covariance Cov(x) - s^2 I.
        model, _ = linear_gaussian_lvae(seed=5, scale=0.5)
        prm = lvae_parameters(4, 2, 0.5, 5, "exact")
        samples = np.asarray(model.sample(40_000), "float64")
        self.assertEqual(samples.shape, (40_000, 4))
        self.assertAllClose(samples.mean(0), prm["m_vec"], atol=0.03)
        self.assertAllClose(np.cov(samples.T), prm["cov"] - 0.25 * np.eye(4), atol=0.06)


class BoundsTest(testing.TestCase):
    def test_elbo_is_the_mean_log_weight_and_iwae_is_above_it(self):
        model = _small()
        x = np.repeat(_binary(1), 3000, axis=0)
        elbo = np.mean(model.compute_terms(x)["elbo"])
        log_w = model.log_importance_weights(x, 1).numpy()
        # E[log w] = ELBO: the analytic KLs agree with the log weights.
        stderr = log_w.std() / np.sqrt(log_w.size)
        self.assertLess(abs(log_w.mean() - elbo), 4 * stderr + 1e-3)
        log_w = model.log_importance_weights(x[:300], 20).numpy()
        iwae = np.mean(np.logaddexp.reduce(log_w, axis=0) - np.log(20))
        self.assertGreater(iwae, elbo + 4 * stderr)

    def test_gradients_reach_every_weight(self):
        for inference in ("ladder", "bottom_up"):
            with self.subTest(inference=inference):
                self._check_gradients(inference)

    def _check_gradients(self, inference):
        model = _small(objective="iwae", num_importance_samples=2, inference=inference)
        with tf.GradientTape() as tape:
            loss = ops.mean(model.compute_terms(_binary(16), training=True)["loss"])
        grads = tape.gradient(loss, model.trainable_variables)
        missing = [
            v.path
            for v, g in zip(model.trainable_variables, grads)
            if g is None or not np.any(g.numpy() != 0)
        ]
        self.assertEqual(missing, [])
        names = " ".join(v.path for v in model.trainable_variables)
        for part in ("bottom_up_3", "q_hat_z3", "top_down_2", "p_z2", "decoder"):
            self.assertIn(part, names)


class BottomUpInferenceTest(testing.TestCase):
    """The paper's VAE baseline: q(z_1|x) q(z_2|z_1) ... and the same p."""

    def test_kl_terms_at_the_sampled_latents(self):
        model = _small(inference="bottom_up", num_importance_samples=3)
        x = _binary(6)
        state = model.sampler.seed_generator.state.numpy()
        terms = model.compute_terms(x)
        model.sampler.seed_generator.state.assign(state)
        _, layers = model._forward(x, 3)  # the same draws as compute_terms
        zs = [layer[0].numpy() for layer in layers]
        for i, (z, q, p) in enumerate(layers):
            q = [np.float64(t.numpy()) for t in q]
            # q(z_1 | x) has no sample axis; the layers above read samples.
            self.assertEqual(q[0].shape, ((3,) if i else ()) + (6, DIMS[i]))
            if i > 0:  # q(z_i | z_{i-1}) reads the sampled z_{i-1}
                again = model._gaussian(model.bottom_up[i], model.bottom_up_heads[i], zs[i - 1])
                self.assertAllClose(again[0], q[0], rtol=1e-5, atol=1e-6)
            if p is None:  # top layer: closed form against N(0, I)
                want = _kl(*q, 0.0, 1.0)
            else:  # z_{i+1} is drawn after z_i: Monte Carlo log q - log p
                p = [np.float64(t.numpy()) for t in p]
                want = _log_normal(zs[i], *q) - _log_normal(zs[i], *p)
            # Per example: averaged over the k = 3 samples.
            want = want.mean(axis=0) if want.ndim == 2 else want
            self.assertAllClose(terms[f"kl_{i + 1}"], want, rtol=1e-4, atol=1e-5)

    def test_elbo_is_the_mean_log_weight(self):
        model = _small(inference="bottom_up")
        x = np.repeat(_binary(1), 3000, axis=0)
        # Both sides are Monte Carlo estimates: the margin holds the standard
        # error of each (the ELBO's from 5 repeated estimates).
        elbos = [np.mean(model.compute_terms(x)["elbo"]) for _ in range(5)]
        log_w = model.log_importance_weights(x, 1).numpy()
        stderr = np.hypot(log_w.std() / np.sqrt(log_w.size), np.std(elbos, ddof=1) / np.sqrt(5))
        self.assertLess(abs(log_w.mean() - np.mean(elbos)), 4 * stderr + 1e-3)

    def test_structure_without_batch_norm(self):
        model = _small(inference="bottom_up", batch_norm=False)
        layers = [
            layer
            for block in model.bottom_up + model.top_down + [model.decoder]
            for layer in block.layers
        ]
        self.assertFalse(any(isinstance(l, keras.layers.BatchNormalization) for l in layers))
        self.assertTrue(all(l.use_bias for l in layers if isinstance(l, keras.layers.Dense)))
        # Block 2 reads z_1 (3 units), not the 8 units of block 1.
        self.assertEqual(model.bottom_up[1].layers[0].kernel.shape, (DIMS[0], UNITS[1]))
        ladder = _small()
        self.assertEqual(ladder.bottom_up[1].layers[0].kernel.shape, (UNITS[0], UNITS[1]))


class FreeBitsTest(testing.TestCase):
    def test_free_bits_change_the_loss_not_the_bound(self):
        x = _binary(8)
        plain, clamped = _small(), _small(free_bits=0.3)
        clamped.set_weights(plain.get_weights())
        clamped.beta.assign(0.5)
        plain.beta.assign(0.5)
        a, b = plain.compute_terms(x), clamped.compute_terms(x)
        for key in ("elbo", "reconstruction", "kl", "kl_1", "kl_2", "kl_3"):
            self.assertAllClose(a[key], b[key], rtol=1e-6)
        per_example = [np.asarray(b[f"kl_{i}"], "float64") for i in (1, 2, 3)]
        kls = [k.mean() for k in per_example]
        # The threshold clamps some layers and not others.
        self.assertTrue(min(kls) < 0.3 < max(kls), kls)
        rec = np.asarray(b["reconstruction"], "float64")
        want = -rec.mean() + 0.5 * sum(max(0.3, k) for k in kls)
        self.assertAllClose(np.mean(b["loss"]), want, rtol=1e-6)
        # Per example: a clamped layer (batch mean below 0.3) gives 0.3.
        clamped_kl = sum(k if k.mean() >= 0.3 else np.full_like(k, 0.3) for k in per_example)
        self.assertAllClose(b["loss"], -rec + 0.5 * clamped_kl, rtol=1e-5)
        self.assertNotAllClose(a["loss"], b["loss"], rtol=1e-4)
        self.assertAllClose(a["loss"], -a["reconstruction"] + 0.5 * a["kl"], rtol=1e-6)

    def test_kl_below_the_threshold_gets_no_gradient(self):
        model = _small(free_bits=100.0)
        with tf.GradientTape(persistent=True) as tape:
            terms = model.compute_terms(_binary(8), training=True)
        variables = model.trainable_variables
        # Every KL is below 100 nats: the loss is -reconstruction + constant.
        for g_loss, g_rec in zip(
            tape.gradient(terms["loss"], variables),
            tape.gradient(terms["reconstruction"], variables),
        ):
            self.assertAllClose(g_loss, -g_rec, rtol=1e-5, atol=1e-7)

    def test_free_bits_survive_save_and_load(self):
        x = _binary(8)
        model = _small(free_bits=0.25)
        model.compile(optimizer="adam", jit_compile=False)  # XLA: see above
        model.fit(x, epochs=1, batch_size=8, verbose=0)
        path = self.get_temp_dir() + "/lvae.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        self.assertEqual(loaded.free_bits, 0.25)
        self.assertEqual(loaded.latent_dims, DIMS)
        for a, b in zip(loaded.encode(x), model.encode(x)):
            self.assertAllClose(a[0], b[0], atol=1e-6)


class LadderVAETest(testing.TestCase):
    def test_xla_fit_with_warm_up_reports_every_layer(self):
        model = _small()
        model.compile(optimizer="adam", jit_compile=True)
        history = model.fit(
            _binary(32),
            epochs=2,
            batch_size=16,
            verbose=0,
            callbacks=[keras_vae.callbacks.KLWarmUp(2)],
        )
        logs = history.history
        for key in ("loss", "elbo", "reconstruction", "kl", "kl_1", "kl_2", "kl_3"):
            self.assertTrue(np.all(np.isfinite(logs[key])), key)
        self.assertEqual(logs["beta"], [0.0, 0.5])
        self.assertAllClose(logs["loss"][0], -logs["reconstruction"][0], rtol=1e-5)
        kl = sum(np.array(logs[f"kl_{i}"]) for i in (1, 2, 3))
        self.assertAllClose(logs["kl"], kl, rtol=1e-5)
        # Training steps used batch statistics and updated the moving ones.
        bn = model.bottom_up[0].layers[1]
        self.assertGreater(np.abs(bn.moving_mean.numpy()).max(), 0.0)

    def test_encode_decode_sample_and_active_units(self):
        x = _binary(10)
        model = _small()
        posteriors = model.encode(x)
        self.assertEqual(
            [(tuple(l.shape), tuple(s.shape)) for l, s in posteriors],
            [((10, d), (10, d)) for d in DIMS],
        )
        # Inference-mode batch norm: an example's posterior does not depend
        # on the rest of its batch.
        for (loc, scale), (loc1, scale1) in zip(posteriors, model.encode(x[3:4])):
            self.assertAllClose(loc[3:4], loc1, atol=1e-6)
            self.assertAllClose(scale[3:4], scale1, atol=1e-6)
        self.assertEqual(model.decode(posteriors[0][0]).shape, (10, 6, 6, 1))
        self.assertAllClose(model.reconstruct(x), model.decode(posteriors[0][0]), atol=1e-6)
        samples = model.sample(4).numpy()
        self.assertEqual(samples.shape, (4, 6, 6, 1))
        self.assertTrue(((samples >= 0) & (samples <= 1)).all())
        self.assertEqual(model(x).shape, (10, 6, 6, 1))
        units = keras_vae.diagnostics.active_units(model, x)
        self.assertEqual([len(u.variances) for u in units], list(DIMS))
        self.assertEqual(model.latent_dims, DIMS)
        log_px = model.log_likelihood(x[:3], num_importance_samples=40)
        self.assertEqual(log_px.shape, (3,))
        self.assertAllClose(log_px[1:2], model.log_likelihood(x[1:2], 40), atol=1.0)

    def test_one_layer_and_paper_defaults(self):
        model = _small(latent_dims=(2,), hidden_units=(4,))
        self.assertEqual(model.top_down, [])
        terms = model.compute_terms(_binary(4))
        self.assertEqual(sorted(k for k in terms if k.startswith("kl_")), ["kl_1"])
        default = LadderVAE()
        self.assertEqual(default.latent_dims, (64, 32, 16, 8, 4))
        self.assertEqual(default.hidden_units, (512, 256, 128, 64, 32))
        self.assertIsInstance(default.likelihood, keras_vae.likelihoods.Bernoulli)


class LadderVAEExportTest(testing.TestCase):
    def test_serving_signatures_match_the_model(self):
        from keras_vae.export import SIGNATURES
        from keras_vae.export import export_for_serving

        x = _binary(12)
        model = _small()
        model.compile(optimizer="adam", jit_compile=False)
        model.fit(x, epochs=1, batch_size=6, verbose=0)  # moving BN statistics
        path = export_for_serving(model, self.get_temp_dir(), chunk_size=64)
        served = tf.saved_model.load(path).signatures
        self.assertLessEqual(set(SIGNATURES), set(served))
        batch = tf.constant(x[:5])
        out = served["encode"](x=batch)
        for i, (loc, scale) in enumerate(model.encode(x[:5])):
            self.assertAllClose(out[f"loc_z{i + 1}"], loc, rtol=1e-5, atol=1e-6)
            self.assertAllClose(out[f"scale_z{i + 1}"], scale, rtol=1e-5, atol=1e-6)
        z1 = out["loc_z1"]
        self.assertAllClose(served["decode"](z1=z1)["mean"], model.decode(z1), rtol=1e-5, atol=1e-6)
        self.assertAllClose(
            served["reconstruct"](x=batch)["mean"],
            model.reconstruct(x[:5]),
            rtol=1e-5,
            atol=1e-6,
        )
        # The seed state was saved at export and the model has not sampled
        # since: both draw the same ancestral samples.
        drawn = served["sample"](num_samples=tf.constant(3))
        for i, z in enumerate(model.sample_tensors(3)):
            self.assertAllClose(drawn[f"z{i + 1}"], z, rtol=1e-5, atol=1e-6)
        self.assertAllClose(drawn["mean"], model.decode(drawn["z1"]), rtol=1e-5, atol=1e-6)
        log_px = served["log_likelihood"](x=batch, num_importance_samples=tf.constant(500))
        log_px = log_px["log_likelihood"].numpy()
        self.assertEqual(log_px.shape, (5,))
        self.assertLess(abs(np.mean(log_px - model.log_likelihood(x[:5], 500))), 0.3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"latent_dims": (4, 2), "hidden_units": (8,)},
            r"same length.*2 layers.*1 blocks",
        ),
        (
            {"latent_dims": (4, 0), "hidden_units": (8, 4)},
            r"`latent_dims` to be a non-empty tuple of positive integers.*\(4, 0\)",
        ),
        (
            {"latent_dims": (4,), "hidden_units": (-8,)},
            r"`hidden_units` to be a non-empty tuple.*\(-8,\)",
        ),
        ({"latent_dims": (), "hidden_units": ()}, r"non-empty tuple.*latent_dims=\(\)"),
        ({"latent_dims": 4, "hidden_units": 8}, r"non-empty tuple.*latent_dims=4"),
        ({"free_bits": -1.0}, r"`free_bits` to be None or a non-negative"),
        ({"free_bits": "1"}, r"free_bits='1'"),
        ({"free_bits": 0.5, "objective": "iwae"}, r"objective='elbo'.*free_bits=0.5"),
        ({"objective": "vae"}, r"`objective` to be one of"),
        ({"inference": "top_down"}, r"`inference` to be one of.*'bottom_up'"),
        ({"num_importance_samples": 0}, r"`num_importance_samples` to be a positive"),
        ({"min_log_var": 2.0, "max_log_var": 1.0}, r"min_log_var < max_log_var"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LadderVAE(**kwargs)


def test_bad_data_and_latents_raise():
    with pytest.raises(ValueError, match="not built"):
        LadderVAE(latent_dims=(2,), hidden_units=(4,)).decode(np.zeros((1, 2), "f4"))
    model = _small()
    with pytest.raises(ValueError, match=r"Expected `x` of shape"):
        model.encode(np.zeros((2, 5, 5, 1), "f4"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.encode(np.full((2, 6, 6, 1), 2.0, "f4"))
    with pytest.raises(ValueError, match=r"`z1` of shape \(batch, 3\)"):
        model.decode(np.zeros((2, 2), "f4"))
    with pytest.raises(ValueError, match=r"`num_samples` to be a positive"):
        model.sample(0)
