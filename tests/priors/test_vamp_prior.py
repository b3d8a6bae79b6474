"""VampPrior against numpy oracles, inside models, and on bad input."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.priors.gaussian_mixture import diagonal_gaussian_mixture_log_prob
from keras_vae.testing.backend import compiled as xla
from keras_vae.testing.backend import value_and_grad


class LinearPosterior(keras.layers.Layer):
    """x -> (x W + c, exp(x V + e)): a small Gaussian encoder with known weights."""

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim

    def build(self, input_shape):
        d, k = input_shape[-1], self.latent_dim
        self.w = self.add_weight(shape=(d, k), initializer="glorot_normal")
        self.v = self.add_weight(shape=(d, k), initializer="glorot_normal")
        self.c = self.add_weight(shape=(k,), initializer="random_normal")

    def call(self, x):
        return x @ self.w + self.c, keras.ops.exp(0.3 * (x @ self.v))


def _oracle(z, loc, scale):
    """log (1/K) sum_k N(z; loc_k, scale_k^2) in float64."""
    z = np.asarray(z, "float64")[..., None, :]
    log_comp = scipy.stats.norm.logpdf(z, loc, scale).sum(-1)
    return scipy.special.logsumexp(log_comp, axis=-1) - np.log(loc.shape[0])


def _standalone(k=7, d=3, data_dim=5, **kwargs):
    encoder = LinearPosterior(d)
    encoder.build((None, data_dim))
    prior = keras_vae.priors.VampPrior(k, pseudo_input_shape=(data_dim,), **kwargs)
    prior.attach_encoder(encoder)
    prior.build((None, d))
    return prior, encoder


def _binary(n, shape=(4, 4, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n,) + shape) < 0.4).astype("float32")


class VampPriorTest(testing.TestCase):
    def test_log_prob_matches_logsumexp_oracle(self):
        prior, encoder = _standalone(activation=None)
        loc, scale = (np.asarray(t) for t in encoder(prior.pseudo_inputs))
        z = np.random.default_rng(0).normal(scale=2.0, size=(2, 6, 3)).astype("f4")
        got = prior.log_prob(z)
        self.assertEqual(tuple(got.shape), (2, 6))
        self.assertAllClose(got, _oracle(z, loc, scale), rtol=1e-5, atol=1e-4)

    def test_log_prob_compiles_with_xla(self):
        prior, _ = _standalone()
        z = np.random.default_rng(1).normal(size=(8, 3)).astype("f4")
        compiled = xla(prior.log_prob, state=[prior])
        self.assertAllClose(compiled(z), prior.log_prob(z), rtol=1e-5, atol=1e-5)

    def test_matmul_mixture_density_is_stable_far_away(self):
        rng = np.random.default_rng(2)
        loc = rng.normal(size=(4, 2))
        scale = np.exp(rng.uniform(-3.0, 1.0, size=(4, 2)))
        log_w = scipy.special.log_softmax(rng.normal(size=4))
        z = np.array([[300.0, -300.0], [0.1, 0.2]], "float32")
        got = np.asarray(diagonal_gaussian_mixture_log_prob(z, loc, scale, log_w))
        log_comp = scipy.stats.norm.logpdf(z[:, None, :], loc, scale).sum(-1)
        want = scipy.special.logsumexp(log_comp + log_w, axis=-1)
        self.assertTrue(np.isfinite(got).all())
        self.assertAllClose(got, want, rtol=1e-5)

    def test_whole_training_set_gives_the_aggregated_posterior(self):
        # With u_k = x_k for every training example, p(z) = (1/N) sum_n q(z|x_n).
        x = _binary(12)
        prior = keras_vae.priors.VampPrior(12, pseudo_inputs_initializer=x)
        vae = keras_vae.models.VAE(latent_dim=3, hidden_units=(16,), prior=prior, seed=0)
        vae.build((None, 4, 4, 1))
        loc, scale = (np.asarray(t) for t in vae.encode(x))
        z = np.random.default_rng(3).normal(size=(20, 3)).astype("f4")
        self.assertAllClose(prior.log_prob(z), _oracle(z, loc, scale), rtol=1e-5, atol=1e-4)
        self.assertAllClose(prior.pseudo_inputs, x)

    def test_gradients_reach_pseudo_inputs_and_encoder(self):
        vae = keras_vae.models.VAE(
            latent_dim=2, hidden_units=(8,), prior=keras_vae.priors.VampPrior(5), seed=0
        )
        x = _binary(6)
        vae.build((None,) + x.shape[1:])
        targets = [vae.prior.pseudo_input_weights, vae.encoder.layers[-1].kernel]
        _, grads = value_and_grad(lambda: vae.compute_loss(x), variables=targets)
        for grad in grads:
            self.assertIsNotNone(grad)
            self.assertGreater(float(np.max(np.abs(ops.convert_to_numpy(grad)))), 0.0)
        # One copy of the encoder weights: the prior does not own them.
        self.assertEqual([w.path for w in vae.prior.weights], [targets[0].path])
        paths = [w.path for w in vae.weights]
        self.assertEqual(len(paths), len(set(paths)))

    def test_pseudo_inputs_encoded_once_per_step(self):
        # k = 5 samples of z per example, yet one encoder pass over the K
        # pseudo-inputs per step, in both models.
        for model in (
            keras_vae.models.VAE(
                latent_dim=2,
                hidden_units=(8,),
                objective="iwae",
                num_importance_samples=5,
                prior=keras_vae.priors.VampPrior(4),
            ),
            keras_vae.models.HierarchicalVAE(
                latent_dims=(2, 2),
                hidden_units=8,
                objective="iwae",
                num_importance_samples=5,
                prior=keras_vae.priors.VampPrior(4),
            ),
        ):
            x = _binary(3)
            model.build((None,) + x.shape[1:])
            calls = []
            encode = model.prior._encode
            model.prior._encode = lambda u: calls.append(u.shape) or encode(u)
            model.compute_terms(x, training=True)
            self.assertEqual(calls, [(4, 4, 4, 1)])

    def test_sample_statistics_match_the_mixture(self):
        prior, encoder = _standalone(k=3, d=2, data_dim=4, seed=5)
        loc, scale = (np.asarray(t).astype("f8") for t in encoder(prior.pseudo_inputs))
        z = np.asarray(prior.sample(60_000)).astype("f8")
        self.assertEqual(z.shape, (60_000, 2))
        mean = loc.mean(0)
        var = (scale**2 + loc**2).mean(0) - mean**2
        self.assertAllClose(z.mean(0), mean, atol=4 * np.sqrt(var / 60_000).max())
        self.assertAllClose(z.var(0), var, rtol=0.03)

    def test_default_initialization_is_the_papers(self):
        prior, _ = _standalone(k=400, data_dim=50, activation=None, seed=1)
        w = prior.pseudo_input_weights.numpy()
        self.assertAllClose(w.mean(), 0.05, atol=1e-3)
        self.assertAllClose(w.std(), 0.01, rtol=0.05)

    def test_hardtanh_clips_the_pseudo_inputs(self):
        prior, _ = _standalone(k=2, data_dim=3)
        prior.pseudo_input_weights.assign([[-1.0, 0.5, 2.0], [0.2, 1.0, 0.0]])
        self.assertAllClose(prior.pseudo_inputs, [[0.0, 0.5, 1.0], [0.2, 1.0, 0.0]])

    def test_vamp_prior_data_keeps_its_pseudo_inputs(self):
        x = _binary(40)
        data = x[:5]
        prior = keras_vae.priors.VampPrior(
            5, pseudo_inputs_initializer=data, trainable_pseudo_inputs=False
        )
        vae = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), prior=prior, seed=0)
        # No XLA (~5 s a model): which weights train is the same either way;
        # the VampPrior models' XLA training is the conformance suite's.
        vae.compile(optimizer="adam", jit_compile=False)
        vae.fit(x, epochs=2, batch_size=20, verbose=0)
        self.assertNotIn(prior.pseudo_input_weights.path, [w.path for w in vae.trainable_weights])
        self.assertAllClose(prior.pseudo_inputs, data)

    @pytest.mark.large_on_jax
    def test_keras_file_round_trip_keeps_the_prior(self):
        x = _binary(20)
        vae = keras_vae.models.VAE(
            latent_dim=2, hidden_units=(8,), prior=keras_vae.priors.VampPrior(4), seed=0
        )
        vae.compile(optimizer="adam", jit_compile=False)  # the round trip is checked
        vae.fit(x, epochs=1, batch_size=10, verbose=0)
        path = self.get_temp_dir() + "/vamp.keras"
        vae.save(path)
        loaded = keras.models.load_model(path)
        self.assertIsInstance(loaded.prior, keras_vae.priors.VampPrior)
        z = np.random.default_rng(4).normal(size=(5, 2)).astype("f4")
        self.assertAllClose(loaded.prior.pseudo_inputs, vae.prior.pseudo_inputs)
        self.assertAllClose(loaded.prior.log_prob(z), vae.prior.log_prob(z), rtol=1e-6)

    def test_config_round_trip(self):
        prior = keras_vae.priors.VampPrior(
            6, pseudo_input_shape=(3, 2), activation=None, trainable_pseudo_inputs=False
        )
        clone = keras_vae.priors.VampPrior.from_config(prior.get_config())
        for key in (
            "num_components",
            "pseudo_input_shape",
            "activation",
            "trainable_pseudo_inputs",
        ):
            self.assertEqual(getattr(clone, key), getattr(prior, key))


class VampPriorErrorTest(testing.TestCase):
    def test_bad_number_of_components(self):
        for k in (0, -3, 2.5, True):
            with pytest.raises(ValueError, match="num_components"):
                keras_vae.priors.VampPrior(k)

    def test_bad_activation(self):
        with pytest.raises(ValueError, match="hardtanh"):
            keras_vae.priors.VampPrior(3, activation="hard_sigmoid")

    def test_initial_values_must_have_k_rows_in_range(self):
        with pytest.raises(ValueError, match=r"num_components=3"):
            keras_vae.priors.VampPrior(3, pseudo_inputs_initializer=np.zeros((2, 4)))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            keras_vae.priors.VampPrior(2, pseudo_inputs_initializer=np.full((2, 4), 3.0))

    def test_pseudo_input_shape_must_match_the_encoder_input(self):
        prior = keras_vae.priors.VampPrior(3, pseudo_input_shape=(28, 28, 1))
        vae = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), prior=prior)
        with pytest.raises(ValueError, match=r"\(28, 28, 1\).*Received: shape \(4, 4, 1\)"):
            vae.build((None, 4, 4, 1))
        data = keras_vae.priors.VampPrior(2, pseudo_inputs_initializer=_binary(2, (5,)))
        vae = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), prior=data)
        with pytest.raises(ValueError, match="encoder's input shape"):
            vae.build((None, 4, 4, 1))

    def test_encoder_must_return_a_gaussian_posterior(self):
        prior = keras_vae.priors.VampPrior(3, pseudo_input_shape=(5,), latent_dim=2)
        prior.attach_encoder(keras.layers.Dense(2))
        with pytest.raises(ValueError, match=r"Gaussian posterior \(loc, scale\)"):
            prior.log_prob(np.zeros((1, 2), "f4"))
        prior.attach_encoder(lambda u: (u[:, :2], u[:, :3]))
        with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
            prior.sample(4)
        with pytest.raises(ValueError, match="callable"):
            prior.attach_encoder("encoder")

    def test_needs_an_encoder_and_a_shape(self):
        prior = keras_vae.priors.VampPrior(3, pseudo_input_shape=(5,), latent_dim=2)
        with pytest.raises(ValueError, match="has no encoder"):
            prior.log_prob(np.zeros((1, 2), "f4"))
        with pytest.raises(ValueError, match="pseudo-input shape"):
            keras_vae.priors.VampPrior(3, latent_dim=2).build((None, 2))
