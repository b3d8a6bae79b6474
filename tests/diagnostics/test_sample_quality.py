"""`diagnostics.sample_quality`, `extract_features` and the shipped MNIST feature network."""

import os

import keras
import numpy as np
import pytest

from keras_vae import diagnostics
from keras_vae.diagnostics import mnist_features


class FixedSamples:
    """A 'model' whose `sample(n)` hands out rows of a fixed array in order."""

    def __init__(self, samples):
        self.samples, self.next = samples, 0

    def sample(self, num_samples):
        out = self.samples[self.next : self.next + num_samples]
        self.next += num_samples
        return out


def test_combines_the_three_measures_on_the_extracted_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2, 3)).astype("float32")
    samples = (1.2 * rng.normal(size=(100, 2, 3)) + 0.3).astype("float32")
    flat = keras.Sequential([keras.layers.Flatten()])
    result = diagnostics.sample_quality(
        FixedSamples(samples),
        x,
        flat,
        num_samples=100,
        batch_size=32,
        kid_subsets=5,
        kid_subset_size=50,
        k=2,
        seed=4,
    )
    assert isinstance(result, diagnostics.SampleQualityResult)
    real, fake = x.reshape(120, 6).astype("float64"), samples.reshape(100, 6).astype("float64")
    assert result.frechet_distance == pytest.approx(diagnostics.frechet_distance(real, fake))
    kid = diagnostics.kernel_distance(real, fake, 5, 50, seed=4)
    assert (result.kernel_distance, result.kernel_distance_std) == pytest.approx(
        (kid.mean, kid.std)
    )
    pr = diagnostics.precision_recall(real, fake, k=2)
    assert (result.precision, result.recall) == (pr.precision, pr.recall)
    assert (result.num_samples, result.num_real) == (100, 120)


def test_num_samples_defaults_to_the_data_size():
    x = np.random.default_rng(1).normal(size=(40, 3)).astype("float32")
    result = diagnostics.sample_quality(
        FixedSamples(x[::-1].copy()), x, lambda b: b, kid_subsets=2, kid_subset_size=10
    )
    assert result.num_samples == 40
    assert result.frechet_distance == pytest.approx(0.0, abs=1e-9)  # the same set
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_a_model_without_sample_raises():
    with pytest.raises(TypeError, match=r"`model` to have a `sample\(num_samples\)` method"):
        diagnostics.sample_quality(object(), np.zeros((4, 2)), lambda b: b)


def test_extract_features_reshapes_flat_images():
    extractor = diagnostics.mnist_feature_extractor()
    images = np.random.default_rng(2).uniform(size=(5, 28, 28, 1)).astype("float32")
    flat = diagnostics.extract_features(extractor, images.reshape(5, 784), batch_size=2)
    assert flat.shape == (5, mnist_features.FEATURE_DIM) and flat.dtype == np.float64
    np.testing.assert_allclose(flat, np.asarray(extractor(images)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(28, 28, 1\) .* Received: \(10,\)"):
        diagnostics.extract_features(extractor, np.zeros((2, 10)))


def test_shipped_weights_load_offline_and_are_small():
    assert os.path.getsize(mnist_features.WEIGHTS_FILE) <= 1_000_000
    trained = diagnostics.mnist_feature_extractor(include_top=True)
    untrained = diagnostics.mnist_feature_extractor(weights=None, include_top=True)
    assert trained.output_shape == (None, 10)
    assert not np.allclose(trained.get_weights()[0], untrained.get_weights()[0])
    with pytest.raises(FileNotFoundError, match=r"`weights` to be 'mnist', None"):
        diagnostics.mnist_feature_extractor(weights="no/such.weights.h5")


@pytest.mark.large
def test_shipped_network_classifies_mnist():
    from keras_vae.datasets.idx_source import read_split

    directory = os.environ.get("MNIST_DIR", "/work/shared/data/mnist")
    if not os.path.isdir(directory):
        pytest.skip("MNIST IDX files not found (set MNIST_DIR)")
    x = read_split(directory, "test").astype("float32") / 255.0
    y = read_split(directory, "test", labels=True)
    logits = diagnostics.mnist_feature_extractor(include_top=True).predict(x, verbose=0)
    assert np.mean(np.argmax(logits, -1) == y) > 0.98
