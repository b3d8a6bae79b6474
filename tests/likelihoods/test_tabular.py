"""Tabular likelihood: per-column densities against scipy, support, models."""

import math
import re

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.likelihoods import Tabular
from keras_vae.testing.backend import value_and_grad
from keras_vae.testing.checks import assert_untrained
from keras_vae.testing.checks import weights_snapshot

COLUMNS = [("gaussian", 2), ("categorical", 3), ("bernoulli", 2), ("categorical", 2)]
# Variables: g0 g1 c0 b0 b1 c1; features: 2 + 3 + 2 + 2 = 9.


def _table(n, seed=0):
    """`(codes, x, params)`: codes one column per variable, x one-hot."""
    rng = np.random.default_rng(seed)
    codes = np.stack(
        [
            rng.normal(size=n),
            rng.normal(size=n),
            rng.integers(0, 3, size=n),
            rng.integers(0, 2, size=n),
            rng.integers(0, 2, size=n),
            rng.integers(0, 2, size=n),
        ],
        axis=1,
    ).astype("float32")
    x = Tabular(COLUMNS).from_codes(codes)
    params = rng.normal(scale=2.0, size=(n, 9)).astype("float32")
    return codes, x, params


def _scipy_columns(codes, params, scale):
    """log p of each variable, float64, from scipy.stats."""
    p = params.astype("float64")
    logsm = scipy.special.log_softmax
    cat0 = logsm(p[..., 2:5], axis=-1)
    cat1 = logsm(p[..., 7:9], axis=-1)
    c0, c1 = codes[:, 2].astype(int), codes[:, 5].astype(int)
    return np.stack(
        np.broadcast_arrays(
            scipy.stats.norm.logpdf(codes[:, 0], p[..., 0], scale[0]),
            scipy.stats.norm.logpdf(codes[:, 1], p[..., 1], scale[1]),
            np.take_along_axis(cat0, np.broadcast_to(c0[:, None], cat0.shape[:-1] + (1,)), -1)[
                ..., 0
            ],
            scipy.stats.bernoulli.logpmf(codes[:, 3], scipy.special.expit(p[..., 5])),
            scipy.stats.bernoulli.logpmf(codes[:, 4], scipy.special.expit(p[..., 6])),
            np.take_along_axis(cat1, np.broadcast_to(c1[:, None], cat1.shape[:-1] + (1,)), -1)[
                ..., 0
            ],
        ),
        axis=-1,
    )


class TabularTest(testing.TestCase):
    def test_layout(self):
        lik = Tabular(COLUMNS)
        self.assertEqual((lik.num_features, lik.num_columns, lik.num_gaussian), (9, 6, 2))
        codes, x, _ = _table(5)
        np.testing.assert_array_equal(x[:, 2:5].sum(1), 1.0)
        np.testing.assert_array_equal(lik.to_codes(x), codes)

    def test_columns_and_sum_match_scipy(self):
        codes, x, params = _table(16, seed=1)
        lik = Tabular(COLUMNS, scale=0.7)
        got = lik.column_log_prob(x, params)
        want = _scipy_columns(codes, params, [0.7, 0.7])
        self.assertEqual(tuple(got.shape), (16, 6))
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-4)
        self.assertAllClose(lik.log_prob(x, params), want.sum(-1), rtol=1e-5, atol=1e-4)

    def test_leading_sample_axis_broadcasts(self):
        codes, x, _ = _table(4, seed=2)
        params = np.random.default_rng(3).normal(size=(5, 4, 9)).astype("float32")
        lik = Tabular(COLUMNS, scale=1.3)
        got = lik.log_prob(x, params)
        self.assertEqual(tuple(got.shape), (5, 4))
        self.assertAllClose(got, _scipy_columns(codes, params, [1.3, 1.3]).sum(-1), atol=1e-4)

    def test_learned_scales_per_column_and_their_gradient(self):
        codes, x, params = _table(32, seed=4)
        lik = Tabular(COLUMNS, scale=0.5)
        lik.build(x.shape)
        (log_scale,) = lik.trainable_weights
        self.assertEqual(tuple(log_scale.shape), (2,))
        log_scale.assign(np.log([0.5, 2.0]).astype("float32"))
        (_, log_p), (grad,) = value_and_grad(
            lambda: (ops.sum(lik.log_prob(x, params)), lik.log_prob(x, params)),
            variables=[log_scale],
            has_aux=True,
        )
        self.assertAllClose(log_p, _scipy_columns(codes, params, [0.5, 2.0]).sum(-1), atol=1e-4)
        # d/d log sigma_j of sum_n log N(x_nj; mu_nj, sigma_j) = sum_n (r_nj^2 / sigma_j^2 - 1).
        r2 = (x[:, :2] - params[:, :2]) ** 2
        want = (r2 / np.array([0.25, 4.0]) - 1.0).sum(0)
        self.assertAllClose(grad, want, rtol=1e-4, atol=1e-4)

    def test_fixed_scale_has_no_weights(self):
        _, x, params = _table(3)
        lik = Tabular(COLUMNS, learn_scale=False)
        lik.log_prob(x, params)
        self.assertEqual(lik.weights, [])

    def test_off_support_rows_have_zero_density(self):
        _, x, params = _table(4, seed=5)
        bad = x.copy()
        bad[1, 5] = 0.5  # a Bernoulli value neither 0 nor 1
        bad[2, 2:5] = 0.0  # a categorical block that is not one-hot
        got = np.asarray(Tabular(COLUMNS).log_prob(bad, params))
        self.assertTrue(np.isfinite(got[[0, 3]]).all())
        self.assertEqual(list(got[1:3]), [-math.inf, -math.inf])

    def test_mean_and_samples(self):
        _, _, params = _table(2000, seed=6)
        params = np.broadcast_to(params[:1], params.shape).copy()
        lik = Tabular(COLUMNS, seed=0)
        lik.build(params.shape)
        mean = np.asarray(lik.mean(params))
        samples = np.asarray(lik.sample(params))
        lik.check_data(samples)  # valid rows: one-hot blocks, binary values
        self.assertAllClose(mean[0, 2:5].sum(), 1.0, atol=1e-6)
        self.assertAllClose(samples.mean(0), mean[0], atol=0.08)

    def test_support_declarations(self):
        self.assertIsNone(Tabular(COLUMNS).support)
        self.assertEqual(Tabular([("bernoulli", 2), ("categorical", 3)]).support, (0.0, 1.0))
        self.assertFalse(Tabular(COLUMNS).binary)
        low, high = Tabular(COLUMNS).support_bounds()
        self.assertEqual(list(low[:3]), [-math.inf, -math.inf, 0.0])
        self.assertEqual(list(high[:3]), [math.inf, math.inf, 1.0])

    def test_config_round_trip(self):
        lik = Tabular(COLUMNS, scale=0.3, learn_scale=False, seed=2)
        config = lik.get_config()
        self.assertEqual(config["columns"][1], ["categorical", 3])
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(lik))
        self.assertEqual(again.columns, lik.columns)
        self.assertEqual(again.scale, 0.3)


@pytest.mark.parametrize(
    "columns",
    [[], "gaussian", [("poisson", 2)], [("categorical", 1)], [("gaussian", 0)], [("bernoulli",)]],
)
def test_bad_specs_are_refused(columns):
    with pytest.raises(ValueError, match="Expected"):
        Tabular(columns)


@pytest.mark.parametrize(
    "row, column, message",
    [
        (lambda x: x.__setitem__((0, 5), 2.0), 3, "to be 0 or 1"),
        (lambda x: x.__setitem__((1, slice(2, 5)), [1.0, 1.0, 0.0]), 2, "one-hot block"),
        (lambda x: x.__setitem__((0, 1), np.nan), 1, "to be finite"),
    ],
    ids=["bernoulli", "categorical", "gaussian"],
)
def test_check_data_names_the_column(row, column, message):
    _, x, _ = _table(3)
    row(x)
    with pytest.raises(ValueError, match=re.escape(f"Expected column {column} (")) as info:
        Tabular(COLUMNS).check_data(x)
    assert message in str(info.value)


def test_from_codes_refuses_bad_codes():
    codes, _, _ = _table(3)
    codes[0, 2] = 3.0
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        Tabular(COLUMNS).from_codes(codes)


@pytest.mark.large_on_jax
def test_vae_fits_and_scores_mixed_data():
    # On JAX with `-m large`; the other Tabular tests run on both backends.
    _, x, _ = _table(64, seed=7)
    model = keras_vae.models.VAE(
        latent_dim=2, hidden_units=(16,), likelihood=Tabular(COLUMNS), seed=0
    )
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    history = model.fit(x, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    log_px = model.log_likelihood(x[:8], num_importance_samples=4)
    assert log_px.shape == (8,) and np.isfinite(log_px).all()
    assert model.likelihood.log_scale.shape == (2,)
    # Reconstructions are the columns' means: one-hot blocks sum to 1.
    np.testing.assert_allclose(np.asarray(model.reconstruct(x[:4]))[:, 2:5].sum(1), 1.0, atol=1e-5)


def test_fit_refuses_off_support_rows_before_any_update():
    # Arrays: the model asks the likelihood (`check_data`), which names the
    # column, before any step.
    _, x, _ = _table(32, seed=8)
    x[5, 5] = 0.5  # Bernoulli column 3
    model = keras_vae.models.VAE(
        latent_dim=2, hidden_units=(8,), likelihood=Tabular(COLUMNS), seed=0
    )
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    model.build((None, 9))
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match=re.escape("Expected column 3 (bernoulli")):
        model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert_untrained(model, before)
    # A generator's later batches are checked inside the step only against
    # the support interval: the row's density is zero, so the loss is not
    # finite and the update is skipped.
    batches = [(np.delete(x, 5, axis=0)[:16],), (x[:16],)]
    with pytest.raises(keras_vae.callbacks.NonFiniteLossError):
        model.fit((b for b in batches), epochs=1, verbose=0)
