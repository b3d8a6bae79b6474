"""Tests for `keras_vae.models.BetaTCVAE` (Chen et al. 2018).

1. The decomposition telescopes: per example MI + TC + DWKL is
   log q(z|x) - log p(z) (numpy, from the model's own posterior and the
   standard normal prior), and on a big batch its mean matches the
   analytic KL within the Monte Carlo error.
2. The loss is -(rec - alpha MI - beta TC - gamma DWKL) with the model's
   `beta` variable; with alpha = beta = gamma = 1 it is the negative ELBO
   (of the same sample).
3. `fit` reports the three terms; the config round-trips.
"""

import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

import keras_vae


def _data(n, dim=16, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, dim)) < 0.3).astype("float32")


def _model(**kwargs):
    args = {"dataset_size": 1000, "latent_dim": 3, "hidden_units": (16,), "seed": 3, **kwargs}
    model = keras_vae.models.BetaTCVAE(**args)
    model.build((None, 16))
    return model


def _numpy(terms):
    return {k: ops.convert_to_numpy(v).astype("float64") for k, v in terms.items()}


class FixedNoiseBetaTCVAE(keras_vae.models.BetaTCVAE):
    """Draws z = loc + scale * eps with a known eps, for a numpy oracle."""

    eps = None

    def reparameterize(self, loc, scale, num_samples=None):
        return loc + scale * ops.convert_to_tensor(self.eps)


def test_decomposition_sums_to_the_single_sample_kl():
    model = FixedNoiseBetaTCVAE(dataset_size=1000, latent_dim=3, hidden_units=(16,), seed=3)
    model.build((None, 16))
    x = _data(256)
    model.eps = np.random.default_rng(1).normal(size=(256, 3)).astype("float32")
    terms = _numpy(model.compute_terms(ops.convert_to_tensor(x)))
    loc, scale = (ops.convert_to_numpy(t).astype("float64") for t in model.encode(x))
    z = loc + scale * model.eps
    log_q = norm.logpdf(z, loc, scale).sum(-1)
    log_p = norm.logpdf(z).sum(-1)
    total = terms["mutual_information"] + terms["total_correlation"] + terms["dimension_wise_kl"]
    np.testing.assert_allclose(total, log_q - log_p, rtol=1e-4, atol=1e-3)


def test_decomposition_matches_the_analytic_kl_in_expectation():
    model = _model()
    x = np.repeat(_data(32), 48, axis=0)  # 1536 samples of z
    terms = _numpy(model.compute_terms(ops.convert_to_tensor(x)))
    total = terms["mutual_information"] + terms["total_correlation"] + terms["dimension_wise_kl"]
    error = total.std() / np.sqrt(len(total))
    assert abs(total.mean() - terms["kl"].mean()) < 4 * error + 1e-3, (
        total.mean(),
        terms["kl"].mean(),
        error,
    )


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.5, 6.0, 2.0)])
def test_loss_weights_the_three_terms(weights):
    alpha, beta, gamma = weights
    model = _model(alpha=alpha, beta=beta, gamma=gamma)
    t = _numpy(model.compute_terms(ops.convert_to_tensor(_data(32))))
    expected = -(
        t["reconstruction"]
        - alpha * t["mutual_information"]
        - beta * t["total_correlation"]
        - gamma * t["dimension_wise_kl"]
    )
    np.testing.assert_allclose(t["loss"], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(t["elbo"], t["reconstruction"] - t["kl"], rtol=1e-6)
    if weights == (1.0, 1.0, 1.0):
        single_sample_kl = t["mutual_information"] + t["total_correlation"] + t["dimension_wise_kl"]
        np.testing.assert_allclose(
            t["loss"], -(t["reconstruction"] - single_sample_kl), rtol=1e-5, atol=1e-4
        )


def test_fit_reports_the_decomposition_and_config_round_trips():
    model = keras_vae.models.BetaTCVAE(
        dataset_size=64, alpha=0.5, gamma=2.0, estimator="stratified", latent_dim=2,
        hidden_units=(8,), seed=0,
    )  # fmt: skip
    # Not compiled: the conformance suite runs the XLA `fit` of this model.
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    history = model.fit(_data(64), epochs=1, batch_size=32, verbose=0).history
    for name in ("mutual_information", "total_correlation", "dimension_wise_kl", "elbo"):
        assert np.isfinite(history[name][-1]), name
    config = model.get_config()
    clone = keras_vae.models.BetaTCVAE.from_config(config)
    assert (clone.dataset_size, clone.alpha, clone.gamma, clone.estimator) == (
        64,
        0.5,
        2.0,
        "stratified",
    )
    assert float(ops.convert_to_numpy(clone.beta)) == 6.0
    assert "objective" not in config and "num_importance_samples" not in config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dataset_size": 0}, "dataset_size"),
        ({"alpha": -1.0}, "alpha"),
        ({"gamma": float("nan")}, "gamma"),
        ({"estimator": "mss"}, "estimator"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_vae.models.BetaTCVAE(**{"dataset_size": 10, **kwargs})


def test_conditional_model_aggregates_q_z_given_x_and_c():
    model = keras_vae.models.BetaTCVAE(
        dataset_size=100, num_classes=3, latent_dim=2, hidden_units=(8,), seed=0
    )
    model.build((None, 16))
    x = ops.convert_to_tensor(_data(12))
    c = ops.convert_to_tensor(np.eye(3, dtype="float32")[np.arange(12) % 3])
    terms = _numpy(model.compute_terms((x, c)))
    total = terms["mutual_information"] + terms["total_correlation"] + terms["dimension_wise_kl"]
    assert total.shape == (12,) and np.all(np.isfinite(total))
