"""Tests for `keras_vae.models.FactorVAE` (Kim & Mnih 2018).

1. With a discriminator whose logits are known (zero weights and a bias; a
   linear map with set weights), the TC term is l_0 - l_1 and the
   discriminator loss is the numpy cross-entropy of z (class 0) and its
   permutation (class 1); the loss is -(rec - beta kl) + gamma TC + L_D.
2. The TC term trains the encoder and not D; D's cross-entropy trains D
   and not the encoder (one optimizer, each its own gradient).
3. The permutation keeps each dimension's multiset of values, shuffles
   the dimensions independently and follows the model's seed.
4. On a toy whose q(z) has perfectly correlated dims, a short fit lowers
   the discriminator loss well below chance (log 2); the config
   round-trips with a custom discriminator.
"""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.special import softplus

import keras_vae
from keras_vae.testing.backend import value_and_grad


def _data(n, dim=16, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, dim)) < 0.3).astype("float32")


def _numpy(terms):
    return {k: ops.convert_to_numpy(v).astype("float64") for k, v in terms.items()}


class KnownNoiseFactorVAE(keras_vae.models.FactorVAE):
    """z = loc + scale * eps with a known eps, and a known permutation."""

    eps = None
    order = None  # (batch, d) row indices: column j of z~ is z[order[:, j], j]

    def reparameterize(self, loc, scale, num_samples=None):
        return loc + scale * ops.convert_to_tensor(self.eps)

    def permute_dimensions(self, z):
        return ops.take_along_axis(z, ops.convert_to_tensor(self.order), axis=0)


def _known_model(n, d=3, discriminator=None, seed=1, **kwargs):
    model = KnownNoiseFactorVAE(
        latent_dim=d,
        hidden_units=(16,),
        discriminator=discriminator,
        discriminator_units=(8, 8),
        seed=3,
        **kwargs,
    )
    model.build((None, 16))
    rng = np.random.default_rng(seed)
    model.eps = rng.normal(size=(n, d)).astype("float32")
    model.order = np.stack([rng.permutation(n) for _ in range(d)], axis=1).astype("int32")
    return model


def test_tc_of_a_constant_discriminator_is_its_logit_gap():
    model = _known_model(32)
    bias = np.array([0.7, -0.4], "float32")
    for layer in model.discriminator.layers:
        kernel, b = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.zeros_like(b)])
    model.discriminator.layers[-1].set_weights(
        [np.zeros_like(model.discriminator.layers[-1].get_weights()[0]), bias]
    )
    t = _numpy(model.compute_terms(ops.convert_to_tensor(_data(32))))
    gap = bias[0] - bias[1]  # log D / (1 - D) with D = sigmoid(gap)
    np.testing.assert_allclose(t["total_correlation"], np.full(32, gap), rtol=1e-6)
    # -(1/2)(log D + log(1 - D)) for z and z~ alike.
    expected = 0.5 * (softplus(-gap) + softplus(gap))
    np.testing.assert_allclose(t["discriminator_loss"], np.full(32, expected), rtol=1e-6)
    # D says "q(z)" for every sample: right on z, wrong on z~.
    np.testing.assert_array_equal(t["discriminator_accuracy"], np.full(32, 0.5))


@pytest.mark.parametrize("gamma, beta", [(10.0, 1.0), (3.0, 4.0)])
def test_terms_of_a_linear_discriminator_match_numpy(gamma, beta):
    n, d = 24, 3
    model = _known_model(n, d, discriminator=keras.layers.Dense(2), gamma=gamma, beta=beta)
    rng = np.random.default_rng(7)
    w = rng.normal(size=(d, 2)).astype("float32")
    b = rng.normal(size=(2,)).astype("float32")
    model.discriminator.set_weights([w, b])
    x = _data(n)
    t = _numpy(model.compute_terms(ops.convert_to_tensor(x)))
    loc, scale = (ops.convert_to_numpy(v).astype("float64") for v in model.encode(x))
    z = loc + scale * model.eps
    z_perm = np.take_along_axis(z, model.order, axis=0)
    real, perm = z @ w + b, z_perm @ w + b
    np.testing.assert_allclose(
        t["total_correlation"], real[:, 0] - real[:, 1], rtol=1e-4, atol=1e-5
    )
    log_softmax = lambda logits: logits - np.logaddexp(logits[:, :1], logits[:, 1:])  # noqa: E731
    cross_entropy = -0.5 * (log_softmax(real)[:, 0] + log_softmax(perm)[:, 1])
    np.testing.assert_allclose(t["discriminator_loss"], cross_entropy, rtol=1e-4, atol=1e-5)
    accuracy = 0.5 * ((real[:, 0] > real[:, 1]) + 0.0 + (perm[:, 1] > perm[:, 0]))
    np.testing.assert_array_equal(t["discriminator_accuracy"], accuracy)
    expected = -(t["reconstruction"] - beta * t["kl"]) + gamma * real[:, 0] - gamma * real[:, 1]
    np.testing.assert_allclose(t["loss"], expected + cross_entropy, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(t["elbo"], t["reconstruction"] - t["kl"], rtol=1e-6)


def _grad_norms(model, term, variables):
    x = ops.convert_to_tensor(_data(16))
    _, grads = value_and_grad(
        lambda: ops.mean(model.compute_terms(x, training=True)[term]), variables=variables
    )
    return [0.0 if g is None else float(np.abs(ops.convert_to_numpy(g)).max()) for g in grads]


def test_each_parameter_set_gets_only_its_own_gradient():
    model = _known_model(16)
    encoder = [model.posterior.kernel]
    disc = list(model.discriminator.trainable_variables)
    # TC: the encoder learns from it, D does not.
    tc_encoder, *tc_disc = _grad_norms(model, "total_correlation", encoder + disc)
    assert tc_encoder > 0
    assert max(tc_disc) == 0.0
    # D's cross-entropy: D learns from it, the encoder does not.
    d_encoder, *d_disc = _grad_norms(model, "discriminator_loss", encoder + disc)
    assert d_encoder == 0.0
    assert min(d_disc) > 0


def _permutation(seed, z):
    model = keras_vae.models.FactorVAE(
        latent_dim=z.shape[1], hidden_units=(4,), discriminator_units=(4,), seed=seed
    )
    return ops.convert_to_numpy(model.permute_dimensions(ops.convert_to_tensor(z)))


def test_permutation_keeps_each_dimension_and_is_seeded():
    z = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    a = _permutation(5, z)
    # Each column keeps its multiset of values...
    np.testing.assert_array_equal(np.sort(a, axis=0), np.sort(z, axis=0))
    # ...under a permutation of its own (distinct values: rows are found).
    rows = np.stack(
        [np.argsort(z[:, j])[np.searchsorted(np.sort(z[:, j]), a[:, j])] for j in range(4)], 1
    )
    assert len({tuple(rows[:, j]) for j in range(4)}) == 4
    assert not np.array_equal(rows[:, 0], np.arange(64))
    # The same seed, the same draw; another seed, another.
    np.testing.assert_array_equal(_permutation(5, z), a)
    assert not np.array_equal(_permutation(6, z), a)


def test_fit_lowers_the_discriminator_loss_on_correlated_latents():
    # x = (t, u): the frozen posterior puts loc = (t, t) with scale e^-3, so
    # q(z) lies on the diagonal and prod_d q(z_d) fills the plane.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 2)).astype("float32")
    model = keras_vae.models.FactorVAE(
        gamma=0.0,
        encoder=keras.layers.Identity(),
        latent_dim=2,
        likelihood="gaussian",
        hidden_units=(8,),
        discriminator_units=(32, 32),
        seed=0,
    )
    model.build((None, 2))
    model.posterior.set_weights(
        [np.array([[1, 1, 0, 0], [0, 0, 0, 0]], "float32"), np.array([0, 0, -6, -6], "float32")]
    )
    model.posterior.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = float(
        np.mean(_numpy(model.compute_terms(ops.convert_to_tensor(x)))["discriminator_loss"])
    )
    history = model.fit(x, epochs=8, batch_size=64, verbose=0)
    after = history.history["discriminator_loss"][-1]
    assert abs(before - np.log(2)) < 0.1, before
    assert after < 0.45, history.history["discriminator_loss"]
    assert history.history["discriminator_accuracy"][-1] > 0.75


def test_config_round_trips_with_a_custom_discriminator():
    model = keras_vae.models.FactorVAE(
        gamma=4.0, discriminator=keras.layers.Dense(2), latent_dim=3, hidden_units=(8,), seed=2
    )
    config = model.get_config()
    assert config["gamma"] == 4.0
    for name in ("objective", "num_importance_samples", "analytic_kl"):
        assert name not in config
    clone = keras_vae.models.FactorVAE.from_config(config)
    assert isinstance(clone.discriminator, keras.layers.Dense)
    assert clone.gamma == 4.0
    default = keras_vae.models.FactorVAE(latent_dim=3, discriminator_units=(5, 5), seed=2)
    assert default.get_config()["discriminator"] is None
    assert keras_vae.models.FactorVAE.from_config(default.get_config()).discriminator_units == (
        5,
        5,
    )


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        keras_vae.models.FactorVAE(gamma=-1.0)
    with pytest.raises(ValueError, match="constraint"):
        keras_vae.models.FactorVAE(constraint=keras_vae.layers.GECO(kappa=1.0))
    model = keras_vae.models.FactorVAE(
        discriminator=keras.layers.Dense(3), latent_dim=2, hidden_units=(4,)
    )
    with pytest.raises(ValueError, match="two logits"):
        model.build((None, 4))
