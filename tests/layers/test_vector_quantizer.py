"""VectorQuantizer: indices, gradients, losses, k-means, restarts, dtypes, errors."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_vae import testing
from keras_vae.layers import VectorQuantizer
from keras_vae.layers import VectorQuantizerEMA
from keras_vae.layers.vector_quantizer import KMEANS_ITERATIONS
from keras_vae.layers.vector_quantizer import codebook_statistics
from keras_vae.testing.backend import compiled
from keras_vae.testing.backend import value_and_grad


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _bfloat16_values(x):
    """float32 `x` rounded to bfloat16 values, as float32 numpy."""
    return ops.convert_to_numpy(ops.cast(ops.cast(x, "bfloat16"), "float32"))


def _oracle_indices(x, codebook):
    """Nearest code by brute force in float64, and the gap to the runner-up."""
    x = np.asarray(x, "float64").reshape(-1, codebook.shape[1])
    d = ((x[:, None, :] - np.asarray(codebook, "float64")[None]) ** 2).sum(-1)
    order = np.sort(d, axis=1)
    return d.argmin(axis=1), order[:, 1] - order[:, 0]


def _layer(codebook, cls=VectorQuantizer, **kwargs):
    k, d = codebook.shape
    layer = cls(k, d, embeddings_initializer=keras.initializers.Constant(codebook), **kwargs)
    layer.build((None, d))
    return layer


class VectorQuantizerTest(testing.TestCase):
    def test_indices_equal_numpy_nearest_neighbour(self):
        rng = np.random.default_rng(0)
        codebook = rng.normal(size=(32, 5)).astype("float32")
        x = rng.normal(size=(3, 4, 6, 5)).astype("float32")
        layer = _layer(codebook)
        quantized, indices = layer(x, return_indices=True)
        want, gap = _oracle_indices(x, codebook)
        self.assertGreater(gap.min(), 1e-4)  # no near-ties: exact test
        self.assertEqual(_dtype(indices), "int32")
        self.assertEqual(tuple(indices.shape), (3, 4, 6))
        np.testing.assert_array_equal(np.asarray(indices).ravel(), want)
        np.testing.assert_array_equal(layer.quantize_indices(x), indices)
        # The output is exactly the chosen codes, and lookup gives them back.
        np.testing.assert_array_equal(quantized, codebook[want].reshape(x.shape))
        np.testing.assert_array_equal(layer.lookup(indices), quantized)
        self.assertEqual(tuple(layer.lookup(np.array([[1, 2]])).shape), (1, 2, 5))

    def test_rank_one_and_rank_two_inputs(self):
        codebook = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
        layer = _layer(codebook)
        q, i = layer(np.array([0.9, 0.8], "float32"), return_indices=True)
        self.assertEqual(i.shape, ())
        self.assertEqual(int(i), 1)
        np.testing.assert_array_equal(q, [1.0, 1.0])
        i = layer.quantize_indices(np.array([[0.1, 0.0], [2.0, 2.0]], "float32"))
        np.testing.assert_array_equal(i, [0, 1])

    def test_straight_through_gradient_is_identity(self):
        rng = np.random.default_rng(1)
        layer = _layer(rng.normal(size=(8, 3)).astype("float32"))
        x = rng.normal(size=(4, 5, 3)).astype("float32")
        w = rng.normal(size=(4, 5, 3)).astype("float32")
        _, (grad,) = value_and_grad(lambda x: ops.sum(layer(x) * w), [x])
        self.assertAllClose(grad, w, rtol=0, atol=0)

    def test_loss_and_gradients_match_closed_form(self):
        rng = np.random.default_rng(2)
        beta, n, d = 0.7, 12, 3
        codebook = rng.normal(size=(6, d)).astype("float32")
        x_np = rng.normal(size=(n, d)).astype("float32")
        layer = _layer(codebook, commitment_cost=beta)

        def loss_fn(x):
            layer(x)
            return ops.sum(layer.losses)

        loss, (grad_x, grad_e) = value_and_grad(loss_fn, [x_np], [layer.embeddings])
        k, _ = _oracle_indices(x_np, codebook)
        diff = x_np.astype("float64") - codebook[k]
        self.assertAllClose(loss, (1 + beta) * np.mean(diff**2), rtol=1e-6)
        # d/de_k mean ||sg[z_e] - e||^2 = 2/(n d) sum_{i: k(i)=k} (e_k - z_e,i)
        want_e = np.zeros_like(codebook, "float64")
        np.add.at(want_e, k, -2.0 * diff / (n * d))
        self.assertAllClose(grad_e, want_e, rtol=1e-5, atol=1e-7)
        # d/dz_e beta mean ||z_e - sg[e]||^2 = 2 beta (z_e - e) / (n d); the
        # codebook term sends nothing to z_e.
        self.assertAllClose(grad_x, 2.0 * beta * diff / (n * d), rtol=1e-5, atol=1e-7)
        self.assertTrue(layer.embeddings.trainable)

    def test_training_gradient_reaches_the_codebook_only_through_the_loss(self):
        # Output gradients go straight through to z_e, never to the codebook.
        rng = np.random.default_rng(3)
        layer = _layer(rng.normal(size=(4, 2)).astype("float32"))
        x = rng.normal(size=(5, 2)).astype("float32")
        _, (grad,) = value_and_grad(lambda: ops.sum(layer(x) ** 2), variables=[layer.embeddings])
        # No gradient: `None` on TensorFlow, zeros on JAX.
        self.assertTrue(grad is None or not np.any(ops.convert_to_numpy(grad)))

    def test_mixed_bfloat16_keeps_float32_indices(self):
        # A dense codebook: bfloat16 distances would pick other codes.
        rng = np.random.default_rng(4)
        codebook = rng.normal(size=(256, 8)).astype("float32")
        x = rng.normal(scale=2.0, size=(512, 8)).astype("float32")
        x_bf16 = _bfloat16_values(x)
        mixed = _layer(codebook, dtype="mixed_bfloat16")
        quantized, indices = mixed(x, return_indices=True)
        self.assertEqual(_dtype(quantized), "bfloat16")
        self.assertEqual(mixed.embeddings.dtype, "float32")
        # Keras casts the inputs to bfloat16; on those values, the indices are
        # float32's and the numpy oracle's.
        reference = _layer(codebook)
        np.testing.assert_array_equal(indices, reference.quantize_indices(x_bf16))
        np.testing.assert_array_equal(indices, _oracle_indices(x_bf16, codebook)[0])
        np.testing.assert_array_equal(
            ops.convert_to_numpy(ops.cast(quantized, "float32")),
            _bfloat16_values(codebook[np.asarray(indices)]),
        )
        # The test can fail: distances computed in bfloat16 disagree.
        e, v = ops.cast(codebook, "bfloat16"), ops.cast(x_bf16, "bfloat16")
        naive = ops.argmin(
            ops.sum(v**2, -1, keepdims=True)
            - 2 * ops.matmul(v, ops.transpose(e))
            + ops.sum(e**2, -1),
            axis=-1,
        )
        self.assertGreater(int(np.sum(np.asarray(naive) != np.asarray(indices))), 0)
        self.assertEqual(_dtype(mixed.losses[0]), "float32")

    def test_xla_matches_eager(self):
        rng = np.random.default_rng(5)
        x = rng.normal(size=(16, 2, 3)).astype("float32")
        eager, xla = VectorQuantizer(8, 3, seed=3), VectorQuantizer(8, 3, seed=3)

        def loss_and_grad(layer, v):
            def loss_fn():
                q, i = layer(v, training=True, return_indices=True)
                return ops.sum(layer.losses), q, i

            (loss, q, i), (grad,) = value_and_grad(
                loss_fn, variables=[layer.embeddings], has_aux=True
            )
            return q, i, loss, grad

        step = compiled(lambda v: loss_and_grad(xla, v), state=[xla])
        eager.build(x.shape)
        xla.build(x.shape)
        for got, want in zip(step(x), loss_and_grad(eager, x)):
            self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)

    def test_xla_kmeans_and_restarts(self):
        # XLA draws with ThreeFry, eager with Philox (utils.random), so compiled
        # draws differ from eager ones: check what the rules guarantee.
        rng = np.random.default_rng(5)
        x = rng.normal(size=(16, 2, 3)).astype("float32")
        layer = VectorQuantizer(
            40, 3, kmeans_init=True, restart_dead_codes=True, dead_code_steps=1, seed=3
        )
        layer.build(x.shape)
        step = compiled(lambda v: layer(v, training=True, return_indices=True), state=[layer])
        _, first = step(x)
        self.assertEqual(int(layer.kmeans_initialized), 1)
        # 40 codes, 32 vectors: k-means seeds every vector as a centre (and
        # repeats some), so the first step uses all 32 vectors' own codes.
        self.assertEqual(len(np.unique(first)), 32)
        _, indices = step(x)
        codes = layer.embeddings.numpy()
        unused = np.setdiff1d(np.arange(40), np.asarray(indices))
        self.assertGreater(len(unused), 0)
        rows = x.reshape(-1, 3)
        for j in unused:  # restarted from the batch in this very step
            self.assertTrue(np.any(np.all(rows == codes[j], axis=1)), j)
        np.testing.assert_array_equal(layer.steps_since_used, np.zeros(40))

    def test_kmeans_init_runs_lloyd_on_the_first_training_batch(self):
        rng = np.random.default_rng(6)
        centres = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
        x = centres[rng.integers(0, 4, 200)] + rng.normal(scale=0.2, size=(200, 2))
        x = x.astype("float32")
        layer = VectorQuantizer(6, 2, kmeans_init=True, seed=1)
        layer(x)  # inference: no initialization
        self.assertEqual(int(layer.kmeans_initialized), 0)
        initial = layer.embeddings.numpy().copy()
        layer(x, training=True)
        self.assertEqual(int(layer.kmeans_initialized), 1)
        codes = layer.embeddings.numpy()
        self.assertFalse(np.allclose(codes, initial))
        # A fixed point of Lloyd's algorithm: each code is the mean of its
        # cluster, and every cluster of the data holds a code.
        k, _ = _oracle_indices(x, codes)
        for j in np.unique(k):
            self.assertAllClose(codes[j], x[k == j].mean(0), rtol=1e-4, atol=1e-4)
        nearest_code_to_centre, _ = _oracle_indices(centres, codes)
        self.assertAllClose(np.abs(codes[nearest_code_to_centre] - centres).max(), 0.0, atol=0.5)
        layer(x + 100.0, training=True)  # later batches do not re-initialize
        self.assertAllClose(layer.embeddings, codes, rtol=0, atol=0)
        self.assertEqual(KMEANS_ITERATIONS, 10)

    def test_kmeans_and_restarts_are_deterministic_given_seed(self):
        x = np.random.default_rng(7).normal(size=(40, 3)).astype("float32")

        def run(seed):
            keras.backend.clear_session()
            layer = VectorQuantizer(
                12, 3, kmeans_init=True, restart_dead_codes=True, dead_code_steps=1, seed=seed
            )
            for _ in range(3):
                layer(x, training=True)
            return layer.embeddings.numpy()

        np.testing.assert_array_equal(run(5), run(5))
        self.assertNotAllClose(run(5), run(6))

    def test_dead_code_restart_revives_unused_codes(self):
        # Codes 2 and 3 are far from all data: never chosen.
        codebook = np.array([[1.0, 0], [-1.0, 0], [50.0, 50], [-50.0, 50]], "float32")
        rng = np.random.default_rng(8)
        x = rng.normal(size=(32, 2)).astype("float32")
        layer = _layer(codebook, restart_dead_codes=True, dead_code_steps=2, seed=0)
        _, usage = codebook_statistics(layer.quantize_indices(x), 4)
        self.assertAllClose(usage, 0.5)
        layer(x, training=True)
        np.testing.assert_array_equal(layer.steps_since_used, [0, 0, 1, 1])
        self.assertAllClose(layer.embeddings, codebook)  # not yet dead
        layer(x)  # inference calls do not count
        np.testing.assert_array_equal(layer.steps_since_used, [0, 0, 1, 1])
        layer(x, training=True)
        codes = layer.embeddings.numpy()
        np.testing.assert_array_equal(layer.steps_since_used, [0, 0, 0, 0])
        self.assertAllClose(codes[:2], codebook[:2])
        # Re-seeded with two distinct vectors of the batch.
        rows = [np.flatnonzero(np.all(x == c, axis=1)) for c in codes[2:]]
        self.assertTrue(all(len(r) == 1 for r in rows))
        self.assertNotEqual(rows[0][0], rows[1][0])
        indices = np.asarray(layer.quantize_indices(x))
        self.assertIn(2, indices)
        self.assertIn(3, indices)
        _, usage = codebook_statistics(indices, 4)
        self.assertAllClose(usage, 1.0)

    def test_codebook_statistics_match_numpy(self):
        indices = np.array([[0, 0, 1], [1, 2, 0]])
        perplexity, usage = codebook_statistics(indices, 5)
        p = np.array([3, 2, 1]) / 6
        self.assertAllClose(perplexity, np.exp(-(p * np.log(p)).sum()), rtol=1e-6)
        self.assertAllClose(usage, 3 / 5)
        self.assertEqual(_dtype(perplexity), "float32")
        statistics = compiled(lambda i: codebook_statistics(i, 5))
        self.assertAllClose(statistics(ops.convert_to_tensor(indices))[0], perplexity, rtol=1e-6)
        uniform, _ = codebook_statistics(np.arange(8), 8)
        self.assertAllClose(uniform, 8.0, rtol=1e-6)
        with pytest.raises(ValueError, match="num_embeddings"):
            codebook_statistics(indices, 0)

    def test_seeded_initializer_and_config(self):
        a, b = VectorQuantizer(4, 2, seed=3), VectorQuantizer(4, 2, seed=3)
        a.build((None, 2))
        b.build((None, 2))
        np.testing.assert_array_equal(a.embeddings, b.embeddings)
        self.assertLessEqual(float(np.abs(a.embeddings.numpy()).max()), 0.05)
        config = VectorQuantizer(
            4,
            2,
            commitment_cost=0.5,
            kmeans_init=True,
            restart_dead_codes=True,
            dead_code_steps=7,
            embeddings_initializer="glorot_uniform",
            seed=2,
        ).get_config()
        clone = VectorQuantizer.from_config(config)
        self.assertEqual(clone.get_config(), config)
        self.assertEqual(
            (clone.commitment_cost, clone.dead_code_steps, clone.kmeans_init), (0.5, 7, True)
        )

    def test_keras_file_round_trip_keeps_state(self):
        x = np.random.default_rng(9).normal(size=(10, 3)).astype("float32")
        inputs = keras.Input((3,))
        layer = VectorQuantizer(5, 3, kmeans_init=True, restart_dead_codes=True, seed=1)
        model = keras.Model(inputs, layer(inputs, return_indices=True))
        layer(x, training=True)
        path = self.get_temp_dir() + "/vq.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        restored = loaded.layers[-1]
        self.assertIsInstance(restored, VectorQuantizer)
        self.assertEqual(int(restored.kmeans_initialized), 1)
        for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
            np.testing.assert_array_equal(a, b)


# The arguments VectorQuantizerEMA shares with (and passes to) VectorQuantizer;
# its own ones (`decay`, `epsilon`) are checked in test_vector_quantizer_ema.py.
@pytest.mark.parametrize("cls", [VectorQuantizer, VectorQuantizerEMA])
@pytest.mark.parametrize(
    "override",
    [
        {"num_embeddings": 0},
        {"num_embeddings": 2.5},
        {"embedding_dim": 0},
        {"embedding_dim": -1},
        {"commitment_cost": -0.1},
        {"commitment_cost": float("nan")},
        {"dead_code_steps": 0},
        {"seed": "a"},
    ],
)
def test_bad_arguments(cls, override):
    (name,) = override
    with pytest.raises(ValueError, match=f"Expected `{name}`.*Received: {name}="):
        cls(**{"num_embeddings": 4, "embedding_dim": 2, **override})


class VectorQuantizerErrorsTest(testing.TestCase):
    def test_wrong_last_axis(self):
        layer = VectorQuantizer(4, 3)
        with pytest.raises(
            ValueError, match=r"embedding_dim=3. Received: inputs of shape \(2, 5\)"
        ):
            layer(np.zeros((2, 5), "float32"))
        with pytest.raises(ValueError, match="embedding_dim=3"):
            layer(keras.Input((4,)))
        layer(np.zeros((2, 3), "float32"))
        with pytest.raises(ValueError, match="embedding_dim=3"):
            layer.quantize_indices(np.zeros((2, 2), "float32"))

    def test_non_finite_inputs(self):
        layer = VectorQuantizer(4, 2)
        for bad in (np.nan, np.inf, -np.inf):
            x = np.zeros((3, 2), "float32")
            x[1, 0] = bad
            with pytest.raises(ValueError, match="finite values. Received: inputs with 1"):
                layer(x)
            with pytest.raises(ValueError, match="finite"):
                layer.quantize_indices(ops.convert_to_tensor(x))
