"""`VAE(objective="iwae", gradient_estimator=...)`: STL and DReG in the model.

The estimators' math is checked against closed forms in
tests/losses/test_gradient_estimators.py; here, that the model wires them
in: the same bound and metrics as the standard estimator on the same draw,
the same decoder (theta) gradient, a different encoder gradient, and a
training run under XLA.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_vae.models import VAE

K = 5


def _model(estimator, seed=3):
    model = VAE(
        latent_dim=4,
        hidden_units=(16,),
        objective="iwae",
        num_importance_samples=K,
        gradient_estimator=estimator,
        seed=seed,
    )
    model.build((None, 12))
    return model


def _data():
    return (np.random.default_rng(0).random((8, 12)) > 0.5).astype("float32")


def _terms_and_grads(model, x):
    with tf.GradientTape() as tape:
        terms = model.compute_terms(tf.constant(x), training=True)
        loss = ops.mean(terms["loss"])  # what `compute_loss` minimizes
    grads = tape.gradient(loss, model.trainable_variables)
    # Keyed by position and top-level sublayer: the two models' layer names
    # differ by Keras's uniquifying suffixes, not their order.
    names = [f"{i}:{v.path.split('/')[1]}" for i, v in enumerate(model.trainable_variables)]
    # Per example, `(batch,)`: the estimators agree example by example.
    return {k: np.asarray(v) for k, v in terms.items()}, dict(zip(names, grads))


@pytest.mark.parametrize("estimator", ["stl", "dreg"])
def test_same_bound_same_decoder_gradient_other_encoder_gradient(estimator):
    x = _data()
    # Same seed: same initial weights and the same draw of eps.
    ref_terms, ref_grads = _terms_and_grads(_model("standard"), x)
    terms, grads = _terms_and_grads(_model(estimator), x)
    assert terms.keys() == ref_terms.keys()
    for name, value in ref_terms.items():
        np.testing.assert_allclose(terms[name], value, rtol=1e-5, atol=1e-5)
    assert ref_grads.keys() == grads.keys()
    decoder = [n for n in grads if "decoder" in n]
    encoder = [n for n in grads if "encoder" in n or "posterior" in n]
    assert decoder and encoder
    for name in decoder:  # theta: sum_i w~_i dlog w_i/dtheta for all three
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-4, atol=1e-6)
    differ = [not np.allclose(grads[n], ref_grads[n], rtol=1e-3, atol=1e-6) for n in encoder]
    assert any(differ), "the encoder gradient should change with the estimator"


def test_dreg_trains_under_xla_and_round_trips():
    x = np.tile(_data(), (25, 1))
    model = _model("dreg")
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    history = model.fit(x, epochs=3, batch_size=50, verbose=0)
    bound = history.history["iwae_bound"]
    assert np.all(np.isfinite(bound)) and bound[-1] > bound[0]
    moved = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert all(moved)
    config = model.get_config()
    assert config["gradient_estimator"] == "dreg"
    assert VAE.from_config(config).gradient_estimator == "dreg"


def test_bad_estimator_settings():
    with pytest.raises(ValueError, match="gradient_estimator"):
        VAE(objective="iwae", gradient_estimator="reinforce")
    with pytest.raises(ValueError, match="objective='iwae'"):
        VAE(objective="elbo", gradient_estimator="dreg")
