"""PixelCNN: causal receptive field, sampling, likelihoods, bits/dim, errors.

`.keras` I/O, config round trips and an XLA `fit` run in tests/conformance.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_vae.layers import GatedPixelCNNBlock
from keras_vae.models import VQVAE
from keras_vae.models import PixelCNN


def _numpy(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _dependence(model, base):
    """(P, P) bool: [q, p] is whether changing the code at q changes logits at p."""
    num_embeddings = model.num_embeddings
    batch = [base]
    for q in range(base.size):
        changed = base.copy()
        changed.flat[q] = (changed.flat[q] + 1) % num_embeddings
        batch.append(changed)
    logits = _numpy(model(np.stack(batch)))
    logits = logits.reshape(len(batch), base.size, num_embeddings)
    return np.abs(logits[1:] - logits[:1]).max(-1) > 1e-6


@pytest.mark.parametrize("code_shape, num_layers, kernel_size", [((4, 4), 4, 3), ((3, 5), 2, 5)])
def test_logits_depend_exactly_on_earlier_positions(code_shape, num_layers, kernel_size):
    keras.utils.set_random_seed(0)
    model = PixelCNN(5, code_shape, filters=8, num_layers=num_layers, kernel_size=kernel_size)
    base = np.random.default_rng(1).integers(0, 5, size=(1,) + code_shape)[0]
    depends = _dependence(model, base.astype("int32"))
    positions = np.arange(base.size)
    # Position p depends on q exactly when q < p in raster order: never on
    # itself or later positions (the mask), and on every earlier one (these
    # receptive fields cover the map, and the vertical stack has no blind spot).
    np.testing.assert_array_equal(depends, positions[:, None] < positions[None, :])


def test_block_mask_a_hides_the_current_position():
    block = GatedPixelCNNBlock(3, mask_type="A")
    x = np.random.default_rng(0).normal(size=(1, 3, 3, 2)).astype("float32")
    v0, h0 = (_numpy(t) for t in block((x, x)))
    y = x.copy()
    y[0, 1, 1] += 1.0
    v1, h1 = (_numpy(t) for t in block((y, y)))
    changed = np.abs(h1 - h0).max(-1)[0] > 1e-6
    assert not changed.ravel()[:5].any() and changed[1, 2]
    # The vertical stack sees its own row; it reaches h only one row down.
    assert np.abs(v1 - v0).max(-1)[0, 1, 1] > 1e-6


def test_first_position_samples_follow_softmax_of_its_logits():
    keras.utils.set_random_seed(0)
    model = PixelCNN(4, (2, 2), filters=4, num_layers=1, seed=3)
    model.head_logits.bias.assign(np.array([0.0, 1.0, -1.0, 2.0], "float32"))
    logits = _numpy(model(np.zeros((1, 2, 2), "int32")))[0, 0, 0]
    n = 4000
    for temperature in (1.0, 0.5):
        draws = _numpy(model.sample(n, temperature=temperature))
        assert draws.shape == (n, 2, 2) and draws.dtype == np.int32
        counts = np.bincount(draws[:, 0, 0], minlength=4)
        probs = np.exp(logits.astype("float64") / temperature)
        probs /= probs.sum()
        p_value = stats.chisquare(counts, n * probs).pvalue
        assert p_value > 1e-3, (temperature, counts, n * probs)


def test_trained_on_one_pattern_samples_reproduce_it():
    keras.utils.set_random_seed(0)
    pattern = np.random.default_rng(2).integers(0, 6, size=(1, 3, 4)).astype("int32")
    model = PixelCNN(6, (3, 4), filters=16, num_layers=4, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(np.repeat(pattern, 64, 0), epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.05
    np.testing.assert_allclose(
        history.history["bits_per_code"],
        np.array(history.history["loss"]) / math.log(2),
        rtol=1e-5,
    )
    # The first code is learned by a bias only (p ~ 0.75 here); given it,
    # every later conditional is near-deterministic.
    samples = _numpy(model.sample(40))
    first = samples[:, 0, 0] == pattern[0, 0, 0]
    assert first.sum() >= 10
    assert (samples[first] == pattern).mean() > 0.98
    # log p(pattern) is near 0 nats, a different map is far less likely.
    other = (pattern + 1) % 6
    log_p = _numpy(model.log_prob(np.concatenate([pattern, other])))
    assert log_p[0] > -1.0 and log_p[1] < -20.0


def test_log_prob_is_the_sum_of_conditional_log_softmax():
    keras.utils.set_random_seed(0)
    model = PixelCNN(5, (3, 3), filters=8, num_layers=2)
    codes = np.random.default_rng(0).integers(0, 5, size=(7, 3, 3)).astype("int32")
    logits = _numpy(model(codes)).astype("float64")
    log_softmax = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    want = np.take_along_axis(log_softmax, codes[..., None], -1).sum((1, 2, 3))
    model.batch_size = 3  # chunked like one batch
    np.testing.assert_allclose(model.log_prob(codes), want, rtol=1e-5)
    # `evaluate` reports the mean cross-entropy per position (nats).
    result = model.compile(optimizer="adam") or model.evaluate(
        codes, batch_size=7, verbose=0, return_dict=True
    )
    np.testing.assert_allclose(result["loss"], -want.mean() / 9, rtol=1e-5)


def test_bits_per_dim_with_a_vqvae_and_sample_images(tiny_vqvae):
    keras.utils.set_random_seed(0)
    vqvae = tiny_vqvae(
        num_embeddings=6,
        embedding_dim=3,
        num_residual_blocks=2,  # VQVAE's default
        likelihood="discretized_logistic",
    )
    x = (np.random.default_rng(0).integers(0, 256, size=(5, 6, 6, 1)) / 255).astype("float32")
    vqvae.build((None, 6, 6, 1))
    prior = PixelCNN(6, vqvae.code_shape, filters=4, num_layers=2, seed=0)
    bpd = prior.bits_per_dim(vqvae, x)
    assert bpd.shape == (5,) and np.all(bpd > 0)
    # The same figure, per example, from the training terms: nats per dim of
    # log p(x|z_q) plus the prior's nats of the codes spread over the 36 pixels.
    rec = _numpy(vqvae.compute_terms(x)["reconstruction_loss"])
    log_pz = _numpy(prior.log_prob(_numpy(vqvae.encode(x))))
    np.testing.assert_allclose(bpd, (rec - log_pz / 36) / math.log(2), rtol=1e-4)
    images = _numpy(prior.sample_images(vqvae, 3))
    assert images.shape == (3, 6, 6, 1) and np.all((images >= 0) & (images <= 1))
    with pytest.raises(ValueError, match=r"Received: a model with \(6, \(3, 3\)\)"):
        PixelCNN(6, (2, 2)).sample_images(vqvae, 1)
    with pytest.raises(ValueError, match="Received: likelihood='mse'"):
        mse = VQVAE(num_embeddings=6, embedding_dim=3, filters=4, num_downsamples=1)
        mse.build((None, 6, 6, 1))
        prior.bits_per_dim(mse, x)


def test_errors():
    with pytest.raises(ValueError, match=r"Received: code_shape=\(7,\)"):
        PixelCNN(4, (7,))
    with pytest.raises(ValueError, match="Received: kernel_size=4"):
        PixelCNN(4, (3, 3), kernel_size=4)
    with pytest.raises(ValueError, match="Received: mask_type='C'"):
        GatedPixelCNNBlock(3, mask_type="C")
    model = PixelCNN(4, (3, 3), filters=4, num_layers=1)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"Received: values in \[0, 4\]"):
        model.fit(np.eye(3, dtype="int64")[None].repeat(2, 0) * 4, verbose=0)
    with pytest.raises(ValueError, match=r"Received: x of dtype float32"):
        model.fit(np.zeros((2, 3, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"Received: x.shape=\(2, 3, 4\)"):
        model.evaluate(np.zeros((2, 3, 4), "int32"), verbose=0)
    with pytest.raises(ValueError, match=r"Received: codes.shape=\(2, 4, 3\)"):
        model(np.zeros((2, 4, 3), "int32"))
    with pytest.raises(ValueError, match="Received: temperature=0"):
        model.sample(2, temperature=0)
    with pytest.raises(ValueError, match="Received: num_samples=0"):
        model.sample(0)


def _weights_and_iterations(model):
    return [_numpy(w).copy() for w in model.weights], int(_numpy(model.optimizer.iterations))


def test_sample_weight_and_targets_are_refused_before_any_step():
    # Before: `fit(codes, sample_weight=w)` trained on the unweighted mean and
    # `evaluate` reported it, ignoring `w`. Like every keras_vae model the
    # prior's loss is the unweighted batch mean, so weights are refused.
    model = PixelCNN(4, (3, 3), filters=4, num_layers=1, seed=0)
    model.compile(optimizer="adam")
    codes = np.random.default_rng(0).integers(0, 4, size=(6, 3, 3)).astype("int32")
    w = np.linspace(0.5, 2.0, 6).astype("float32")
    before, _ = _weights_and_iterations(model)
    refused = {
        "fit sample_weight": lambda: model.fit(codes, sample_weight=w, verbose=0),
        "fit class_weight": lambda: model.fit(codes, class_weight={0: 2.0}, verbose=0),
        "fit validation weights": lambda: model.fit(
            codes, validation_data=(codes, None, w), verbose=0
        ),
        "evaluate sample_weight": lambda: model.evaluate(codes, sample_weight=w, verbose=0),
        "compute_loss sample_weight": lambda: model.compute_loss(codes, sample_weight=w),
    }
    for what, call in refused.items():
        with pytest.raises(ValueError, match="Expected no `(sample|class)_weight`"):
            call()
            pytest.fail(what)
    with pytest.raises(ValueError, match="Expected no `y`"):
        model.fit(codes, codes, verbose=0)
    weighted = tf.data.Dataset.from_tensor_slices((codes, w)).map(lambda c, s: (c, None, s))
    with pytest.raises(ValueError, match="Expected no `sample_weight`"):
        model.fit(weighted.batch(3), verbose=0)
    after, iterations = _weights_and_iterations(model)
    assert iterations == 0
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


class InkWeightedPixelCNN(PixelCNN):
    """The documented way to weight maps: override `compute_loss`."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x)
        nll = keras.ops.sparse_categorical_crossentropy(x, y_pred, from_logits=True)
        per_map = keras.ops.mean(nll, axis=(1, 2))
        w = 1.0 + keras.ops.cast(x[:, 0, 0], "float32")
        return keras.ops.sum(w * per_map) / keras.ops.sum(w)


def test_weighting_by_overriding_compute_loss_matches_a_numpy_oracle():
    model = InkWeightedPixelCNN(4, (3, 3), filters=4, num_layers=2, seed=0)
    model.compile(optimizer="adam")
    codes = np.random.default_rng(1).integers(0, 4, size=(8, 3, 3)).astype("int32")
    logits = _numpy(model(codes)).astype("float64")
    log_softmax = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    nll = -np.take_along_axis(log_softmax, codes[..., None], -1)[..., 0].mean((1, 2))
    w = 1.0 + codes[:, 0, 0]
    result = model.evaluate(codes, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], np.sum(w * nll) / np.sum(w), rtol=1e-5)
