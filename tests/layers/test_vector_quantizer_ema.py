"""VectorQuantizerEMA: the closed-form EMA update, training-only updates, errors."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_vae import testing
from keras_vae.layers import VectorQuantizer
from keras_vae.layers import VectorQuantizerEMA
from keras_vae.testing.backend import value_and_grad


def _ema_oracle(state, x, decay, eps):
    """One EMA step of (codes, N, m) on the rows of `x`, in float64."""
    codes, size, total = (np.asarray(a, "float64") for a in state)
    x = np.asarray(x, "float64").reshape(-1, codes.shape[1])
    k = ((x[:, None] - codes[None]) ** 2).sum(-1).argmin(1)
    one_hot = np.eye(len(codes))[k]
    size = decay * size + (1 - decay) * one_hot.sum(0)
    total = decay * total + (1 - decay) * one_hot.T @ x
    n = size.sum()
    smoothed = (size + eps) / (n + len(codes) * eps) * n
    return total / smoothed[:, None], size, total


def _layer(codebook, **kwargs):
    layer = VectorQuantizerEMA(
        *codebook.shape,
        embeddings_initializer=keras.initializers.Constant(codebook),
        **kwargs,
    )
    layer.build((None, codebook.shape[1]))
    return layer


def _state(layer):
    return [v.numpy() for v in (layer.embeddings, layer.ema_cluster_size, layer.ema_sum)]


class VectorQuantizerEMATest(testing.TestCase):
    def test_initial_state_and_weights(self):
        codebook = np.arange(12, dtype="float32").reshape(4, 3)
        layer = _layer(codebook)
        self.assertEqual(layer.trainable_weights, [])
        self.assertIsInstance(layer, VectorQuantizer)
        codes, size, total = _state(layer)
        np.testing.assert_array_equal(codes, codebook)
        np.testing.assert_array_equal(size, np.ones(4))
        np.testing.assert_array_equal(total, codebook)

    def test_update_equals_closed_form(self):
        rng = np.random.default_rng(0)
        codebook = rng.normal(size=(6, 3)).astype("float32")
        layer = _layer(codebook, decay=0.8, epsilon=1e-3)
        state = [codebook, np.ones(6), codebook]
        for step in range(3):
            x = rng.normal(size=(5, 4, 3)).astype("float32")
            quantized = layer(x, training=True)
            # The output uses the codebook from before the update.
            k = ((x.reshape(-1, 1, 3) - state[0][None]) ** 2).sum(-1).argmin(1)
            want_codes = state[0][k].reshape(x.shape)
            self.assertAllClose(quantized, want_codes, rtol=1e-5, atol=1e-6)
            state = _ema_oracle(state, x, 0.8, 1e-3)
            for got, want in zip(_state(layer), state):
                self.assertAllClose(got, want, rtol=1e-5, atol=1e-6, msg=f"step {step}")
        # The used codes moved: the update is not the identity.
        self.assertNotAllClose(layer.embeddings, codebook)

    def test_no_update_without_training(self):
        rng = np.random.default_rng(1)
        layer = _layer(rng.normal(size=(4, 2)).astype("float32"))
        before = _state(layer)
        x = rng.normal(size=(8, 2)).astype("float32")
        layer(x)
        layer(x, training=False)
        layer.quantize_indices(x)
        for got, want in zip(_state(layer), before):
            np.testing.assert_array_equal(got, want)

    def test_loss_is_commitment_only(self):
        rng = np.random.default_rng(2)
        codebook = rng.normal(size=(5, 3)).astype("float32")
        x_np = rng.normal(size=(7, 3)).astype("float32")
        layer = _layer(codebook, commitment_cost=0.3)

        def loss_fn(x):
            layer(x, training=True)
            return ops.sum(layer.losses)

        loss, (grad_x,) = value_and_grad(loss_fn, [x_np])
        k = ((x_np[:, None] - codebook[None]) ** 2).sum(-1).argmin(1)
        diff = x_np.astype("float64") - codebook[k]
        self.assertAllClose(loss, 0.3 * np.mean(diff**2), rtol=1e-6)
        self.assertAllClose(grad_x, 2 * 0.3 * diff / diff.size, rtol=1e-5, atol=1e-7)
        _, (grad_x,) = value_and_grad(lambda x: ops.sum(layer(x) * 3.0), [x_np])
        self.assertAllClose(grad_x, np.full(x_np.shape, 3.0))

    def test_compiled_fit_updates_like_eager_calls(self):
        rng = np.random.default_rng(3)
        codebook = rng.normal(size=(6, 2)).astype("float32")
        x = rng.normal(size=(16, 3, 2)).astype("float32")
        eager = _layer(codebook, decay=0.7)
        for i in range(2):
            eager(x[8 * i : 8 * (i + 1)], training=True)
        keras.backend.clear_session()
        layer = VectorQuantizerEMA(
            6, 2, decay=0.7, embeddings_initializer=keras.initializers.Constant(codebook)
        )
        inputs = keras.Input((3, 2))
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        with warnings.catch_warnings():
            # TensorFlow's trainer warns that nothing is trainable; JAX's does not.
            warnings.filterwarnings("ignore", message=".*trainable weights.*")
            model.fit(x, x, batch_size=8, epochs=1, shuffle=False, verbose=0)
        for got, want in zip(_state(layer), _state(eager)):
            self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)

    def test_mixed_precision_statistics_in_float32(self):
        rng = np.random.default_rng(4)
        codebook = rng.normal(size=(4, 2)).astype("float32")
        layer = _layer(codebook, dtype="mixed_bfloat16", decay=0.5)
        x = rng.normal(size=(10, 2)).astype("float32")
        out = layer(x, training=True)
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "bfloat16")
        x_bf16 = ops.convert_to_numpy(ops.cast(ops.cast(x, "bfloat16"), "float32"))
        want = _ema_oracle([codebook, np.ones(4), codebook], x_bf16, 0.5, 1e-5)
        for got, w in zip(_state(layer), want):
            self.assertEqual(got.dtype, np.float32)
            self.assertAllClose(got, w, rtol=1e-6, atol=1e-6)

    def test_restart_resets_the_statistics(self):
        codebook = np.array([[1.0, 0], [-1.0, 0], [50.0, 50]], "float32")
        x = np.random.default_rng(5).normal(size=(20, 2)).astype("float32")
        layer = _layer(codebook, restart_dead_codes=True, dead_code_steps=1, seed=2)
        layer(x, training=True)
        codes, size, total = _state(layer)
        self.assertTrue(np.any(np.all(x == codes[2], axis=1)))
        self.assertEqual(size[2], 1.0)
        np.testing.assert_array_equal(total[2], codes[2])
        self.assertIn(2, np.asarray(layer.quantize_indices(x)))

    def test_kmeans_init_sets_the_statistics(self):
        x = np.random.default_rng(6).normal(size=(30, 2)).astype("float32")
        layer = VectorQuantizerEMA(4, 2, decay=0.5, kmeans_init=True, seed=1)
        layer(x, training=True)
        # After k-means, N = 1 and m = the centres; then one EMA step on x.
        codes, size, total = _state(layer)
        self.assertAllClose(size.sum(), 0.5 * 4 + 0.5 * 30, rtol=1e-6)
        k = ((x[:, None] - codes[None]) ** 2).sum(-1).argmin(1)
        for j in np.unique(k):  # a Lloyd fixed point stays one
            self.assertAllClose(codes[j], x[k == j].mean(0), rtol=1e-4, atol=1e-4)

    def test_config(self):
        layer = VectorQuantizerEMA(4, 2, decay=0.9, epsilon=1e-3, seed=1)
        config = layer.get_config()
        self.assertEqual((config["decay"], config["epsilon"]), (0.9, 1e-3))
        self.assertEqual(VectorQuantizerEMA.from_config(config).get_config(), config)


# The arguments shared with VectorQuantizer: test_vector_quantizer.py checks
# them for both classes.
@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, float("nan")])
def test_bad_decay(decay):
    with pytest.raises(ValueError, match="Expected `decay`.*Received: decay="):
        VectorQuantizerEMA(4, 2, decay=decay)


def test_bad_epsilon():
    with pytest.raises(ValueError, match="Expected `epsilon`.*Received: epsilon="):
        VectorQuantizerEMA(4, 2, epsilon=0.0)


class VectorQuantizerEMAErrorsTest(testing.TestCase):
    def test_bad_inputs(self):
        layer = VectorQuantizerEMA(4, 2)
        with pytest.raises(ValueError, match="embedding_dim=2"):
            layer(np.zeros((3, 5), "float32"), training=True)
        x = np.zeros((3, 2), "float32")
        x[0, 0] = np.nan
        with pytest.raises(ValueError, match="finite"):
            layer(x, training=True)
