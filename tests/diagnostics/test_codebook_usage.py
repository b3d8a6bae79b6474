"""codebook_usage: counts over a whole dataset, batch-size independence, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae import testing
from keras_vae.diagnostics import CodebookUsageResult
from keras_vae.diagnostics import codebook_usage
from keras_vae.layers import VectorQuantizer
from keras_vae.layers.vector_quantizer import codebook_statistics


class _Encoder:
    """A stand-in for a VQ-VAE: `encode` returns the codes stored in `x`."""

    num_embeddings = 6

    def encode(self, x):
        return np.asarray(x).astype("int32")


def _perplexity(counts):
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


class CodebookUsageTest(testing.TestCase):
    def test_quantizer_over_a_dataset_matches_numpy(self):
        rng = np.random.default_rng(0)
        codebook = rng.normal(size=(10, 3)).astype("float32")
        layer = VectorQuantizer(10, 3, embeddings_initializer=keras.initializers.Constant(codebook))
        data = rng.normal(size=(50, 2, 2, 3)).astype("float32")
        result = codebook_usage(layer, data, batch_size=7)
        self.assertIsInstance(result, CodebookUsageResult)
        d = ((data.reshape(-1, 1, 3) - codebook[None]) ** 2).sum(-1)
        want = np.bincount(d.argmin(1), minlength=10)
        self.assertEqual(result.counts.dtype, np.int64)
        np.testing.assert_array_equal(result.counts, want)
        self.assertAlmostEqual(result.perplexity, _perplexity(want), places=10)
        self.assertAlmostEqual(result.usage, np.count_nonzero(want) / 10)
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(13)
        np.testing.assert_array_equal(codebook_usage(layer, dataset).counts, want)

    def test_independent_of_batch_size_unlike_per_batch_values(self):
        codes = np.tile(np.arange(6), 10).reshape(60, 1)  # every code, equally
        model = _Encoder()
        for batch_size in (1, 4, 60):
            result = codebook_usage(model, codes, batch_size=batch_size)
            self.assertAlmostEqual(result.perplexity, 6.0, places=10)
            self.assertEqual(result.usage, 1.0)
        # Per batch of 4, at most 4 of the 6 codes can appear.
        perplexity, usage = codebook_statistics(codes[:4], 6)
        self.assertAllClose(usage, 4 / 6)
        self.assertAllClose(perplexity, 4.0, rtol=1e-6)

    def test_collapsed_codebook(self):
        result = codebook_usage(_Encoder(), np.full((9, 2, 2), 3), num_embeddings=6)
        np.testing.assert_array_equal(result.counts, [0, 0, 0, 36, 0, 0])
        self.assertEqual(result.perplexity, 1.0)
        self.assertAlmostEqual(result.usage, 1 / 6)

    def test_num_embeddings_from_a_quantizer_attribute(self):
        class WithQuantizer:
            quantizer = VectorQuantizer(4, 2)

            def encode(self, x):
                return np.zeros((len(x), 3), "int64")

        result = codebook_usage(WithQuantizer(), np.zeros((5, 1)))
        self.assertEqual(result.counts.shape, (4,))
        self.assertEqual(int(result.counts[0]), 15)

    def test_errors(self):
        with pytest.raises(TypeError, match="encode"):
            codebook_usage(object(), np.zeros((2, 1)))

        class NoSize:
            def encode(self, x):
                return np.zeros(len(x), "int32")

        with pytest.raises(ValueError, match="Expected `num_embeddings`"):
            codebook_usage(NoSize(), np.zeros((2, 1)))
        with pytest.raises(ValueError, match="num_embeddings=0"):
            codebook_usage(NoSize(), np.zeros((2, 1)), num_embeddings=0)
        with pytest.raises(ValueError, match=r"in \[0, 6\). Received: indices from 0 to 6"):
            codebook_usage(_Encoder(), np.array([[0], [6]]))
        with pytest.raises(ValueError, match="integer code indices"):
            codebook_usage(_FloatEncoder(), np.zeros((2, 1)))
        with pytest.raises(ValueError, match="batch_size"):
            codebook_usage(_Encoder(), np.zeros((2, 1)), batch_size=0)
        with pytest.raises(ValueError, match="embedding_dim=3"):
            codebook_usage(VectorQuantizer(4, 3), np.zeros((5, 2), "float32"))


class _FloatEncoder(_Encoder):
    def encode(self, x):
        return np.asarray(x, "float32")
