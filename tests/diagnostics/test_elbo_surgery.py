"""elbo_surgery: the identity, the bounds, numpy oracles, closed forms, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

import keras_vae
from keras_vae import testing
from keras_vae.diagnostics import elbo_surgery
from keras_vae.diagnostics.aggregate_posterior import log_aggregate_posterior


def _images(n=50, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.uniform(size=(n, 4, 4, 1)) < 0.4).astype("float32")


def _vae(prior=None, latent_dim=3):
    model = keras_vae.models.VAE(latent_dim=latent_dim, hidden_units=(8,), prior=prior, seed=0)
    model.build((None, 4, 4, 1))
    return model


class GivenPosteriors:
    """A stand-in model whose examples ARE the posterior parameters.

    An example is the vector `[loc, scale]`; the prior is fixed. It lets the
    tests choose the N posteriors exactly.
    """

    def __init__(self, prior):
        self.prior = prior

    def latent_layers(self, x):
        dim = x.shape[1] // 2
        return [(x[:, :dim], x[:, dim:], self.prior)]


def _standard_normal(dim):
    prior = keras_vae.priors.StandardNormal(latent_dim=dim)
    prior.build((None, dim))
    return prior


def _oracle(loc, scale, log_prior, num_samples, seed):
    """Brute force in float64: the full N x N matrix, scipy densities."""
    loc, scale = loc.astype("float64"), scale.astype("float64")
    num, dim = loc.shape
    eps = np.random.default_rng(seed).standard_normal((num_samples, num, dim))
    z = (loc + scale * eps).reshape(-1, dim)
    own = np.tile(np.arange(num), num_samples)
    matrix = stats.norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
    log_q = matrix[np.arange(len(z)), own]
    log_q_bar = special.logsumexp(matrix, axis=1) - math.log(num)
    log_p = log_prior(z)
    return {
        "mutual_information": np.mean(log_q - log_q_bar),
        "marginal_kl": np.mean(log_q_bar - log_p),
        "avg_kl": np.mean(log_q - log_p),
    }


def _numbers(result):
    return [v for v in result if v is not None]


class ELBOSurgeryTest(testing.TestCase):
    def test_matches_a_brute_force_oracle_and_the_identity(self):
        x = _images()
        model = _vae()
        got = elbo_surgery(model, x, num_samples=3, seed=7)
        loc, scale = (keras.ops.convert_to_numpy(t) for t in model.encode(x))
        want = _oracle(loc, scale, lambda z: stats.norm.logpdf(z).sum(-1), num_samples=3, seed=7)
        # log p(z) comes from the prior layer in float32; the rest is float64.
        self.assertAllClose(
            got.mutual_information, want["mutual_information"], rtol=1e-9, atol=1e-9
        )
        for key in ("marginal_kl", "avg_kl"):
            self.assertAllClose(getattr(got, key), want[key], rtol=0, atol=1e-6)
        self.assertAllClose(
            got.mutual_information + got.marginal_kl, got.avg_kl, rtol=0, atol=1e-12
        )
        self.assertEqual((got.num_examples, got.num_samples), (50, 3))
        self.assertAllClose(got.log_n, math.log(50))
        self.assertFalse(got.conditional_prior)
        # The closed form is the same quantity without sampling noise.
        closed = np.mean(np.sum(0.5 * (loc**2 + scale**2 - 1) - np.log(scale), axis=-1))
        self.assertAllClose(got.avg_kl_analytic, closed, rtol=1e-5)
        self.assertLess(abs(got.avg_kl - closed), 5 * got.avg_kl_stderr)

    def test_mutual_information_is_within_zero_and_log_n(self):
        model = _vae(latent_dim=2)
        for seed in range(3):
            got = elbo_surgery(model, _images(seed=seed), seed=seed)
            self.assertGreaterEqual(got.mutual_information, 0.0)
            self.assertLessEqual(got.mutual_information, got.log_n)

    def test_result_does_not_depend_on_chunks_or_batches(self):
        x = _images(40)
        model = _vae(prior=keras_vae.priors.MixtureOfGaussians(3, seed=0))
        base = elbo_surgery(model, x, num_samples=2, seed=1)
        for kwargs in ({"chunk_size": 7}, {"chunk_size": 40}):
            other = elbo_surgery(model, x, num_samples=2, seed=1, **kwargs)
            self.assertAllClose(
                _numbers(other), _numbers(base), rtol=1e-10, atol=1e-12, msg=str(kwargs)
            )
        # Encoder batches change float32 rounding of the posteriors only.
        other = elbo_surgery(model, x, num_samples=2, seed=1, batch_size=3)
        self.assertAllClose(_numbers(other), _numbers(base), rtol=1e-5)
        self.assertIsNone(base.avg_kl_analytic)  # no closed form for a MoG

    def test_datasets_give_the_same_result_as_arrays(self):
        x = _images(30)
        model = _vae()
        want = elbo_surgery(model, x, seed=2)
        dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(30)))
        for data in (dataset, dataset.batch(7)):
            self.assertAllClose(list(elbo_surgery(model, data, seed=2)), list(want))
        # An unknown length is fine once capped.
        filtered = tf.data.Dataset.from_tensor_slices(x).filter(lambda e: True)
        capped = elbo_surgery(model, filtered.repeat(), max_examples=30, seed=2)
        self.assertAllClose(list(capped), list(want))

    def test_prior_equal_to_the_aggregate_posterior_has_zero_marginal_kl(self):
        x = _images(40)
        # A VampPrior whose fixed pseudo-inputs are exactly the N examples:
        # p(z) = (1/N) sum_n q(z | x_n) = q̄(z).
        prior = keras_vae.priors.VampPrior(
            40, pseudo_inputs_initializer=x, trainable_pseudo_inputs=False
        )
        got = elbo_surgery(_vae(prior=prior), x, num_samples=4, seed=0)
        # float32 log p against float64 log q̄: rounding only.
        self.assertAllClose(got.marginal_kl, 0.0, atol=1e-5)
        self.assertLess(got.marginal_kl_stderr, 1e-5)
        self.assertAllClose(got.mutual_information, got.avg_kl, atol=1e-5)
        self.assertGreater(got.mutual_information, 0.01)  # not a trivial case

    def test_identical_posteriors_have_no_information(self):
        loc, scale = np.array([0.5, -1.0]), np.array([0.7, 1.3])
        data = np.tile(np.concatenate([loc, scale]), (50, 1)).astype("float32")
        got = elbo_surgery(GivenPosteriors(_standard_normal(2)), data, num_samples=200, seed=0)
        # q̄ = q_n exactly: MI = 0, marginal KL = KL(N(loc, scale) || N(0, I)).
        kl = np.sum(0.5 * (loc**2 + scale**2 - 1) - np.log(scale))
        self.assertAllClose(got.mutual_information, 0.0, atol=1e-9)
        self.assertAllClose(got.avg_kl_analytic, kl, rtol=1e-6)
        self.assertLess(abs(got.marginal_kl - kl), 4 * got.marginal_kl_stderr)

    def test_disjoint_posteriors_have_log_n_information(self):
        num = 50
        loc = np.stack([np.arange(num) * 100.0, np.zeros(num)], axis=1)
        data = np.concatenate([loc, np.ones((num, 2))], axis=1).astype("float32")
        got = elbo_surgery(GivenPosteriors(_standard_normal(2)), data, seed=0)
        self.assertAllClose(got.mutual_information, math.log(num), atol=1e-9)

    def test_hierarchical_models_give_one_result_per_layer(self):
        x = _images(30)
        models = [
            keras_vae.models.HierarchicalVAE(latent_dims=(3, 2), hidden_units=8),
            keras_vae.models.LadderVAE(latent_dims=(3, 2), hidden_units=(8, 4)),
        ]
        for model in models:
            got = elbo_surgery(model, x, num_samples=2, seed=0)
            name = type(model).__name__
            self.assertEqual(len(got), 2, name)
            self.assertEqual([r.conditional_prior for r in got], [True, False], name)
            for layer in got:
                self.assertAllClose(
                    layer.mutual_information + layer.marginal_kl,
                    layer.avg_kl,
                    atol=1e-12,
                )
                self.assertTrue(0 <= layer.mutual_information <= layer.log_n)
                self.assertIsNotNone(layer.avg_kl_analytic)
            # The top layer's closed-form KL is that of q(z2 | x) to N(0, I).
            loc, scale = (keras.ops.convert_to_numpy(t) for t in model.encode(x)[-1])
            closed = np.mean(np.sum(0.5 * (loc**2 + scale**2 - 1) - np.log(scale), axis=-1))
            self.assertAllClose(got[1].avg_kl_analytic, closed, rtol=1e-5, msg=name)


def test_float64_blocks_match_a_direct_computation():
    rng = np.random.default_rng(0)
    # Narrow posteriors far from the origin: the expanded squares cancel.
    loc = rng.normal(size=(300, 5)) * 3.0 + 40.0
    scale = np.exp(rng.uniform(-4.0, 0.0, size=(300, 5)))
    z = loc[:200] + scale[:200] * rng.normal(size=(200, 5))
    got = log_aggregate_posterior(z, loc, scale, chunk_size=64)
    matrix = stats.norm.logpdf(z[:, None], loc[None], scale[None]).sum(-1)
    want = special.logsumexp(matrix, axis=1) - math.log(300)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 0}, r"`num_samples` to be a positive integer"),
        ({"chunk_size": 0}, r"`chunk_size` to be a positive integer"),
        ({"batch_size": 1.5}, r"`batch_size` to be a positive integer"),
        ({"max_examples": 0}, r"`max_examples` to be a positive integer"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        elbo_surgery(_vae(), _images(5), **kwargs)


def test_datasets_of_unknown_or_infinite_length_raise():
    dataset = tf.data.Dataset.from_tensor_slices(_images(5))
    with pytest.raises(ValueError, match=r"infinite.*\.take\(n\)"):
        elbo_surgery(_vae(), dataset.repeat())
    with pytest.raises(ValueError, match=r"unknown.*assert_cardinality"):
        elbo_surgery(_vae(), dataset.filter(lambda x: True))


def test_no_examples_raise():
    with pytest.raises(ValueError, match=r"at least one example"):
        elbo_surgery(_vae(), np.zeros((0, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match=r"at least one example"):
        elbo_surgery(_vae(), tf.data.Dataset.from_tensor_slices(_images(5)).take(0))


def test_models_without_a_continuous_latent_raise():
    vq = keras_vae.models.VQVAE(num_embeddings=4, embedding_dim=2)
    with pytest.raises(TypeError, match=r"continuous.*Received: model of type VQVAE"):
        elbo_surgery(vq, _images(5))
    plain = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(TypeError, match=r"Received: model of type Sequential"):
        elbo_surgery(plain, _images(5))
