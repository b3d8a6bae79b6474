"""Real-data quality check of the paper's default model on MNIST.

The default `VAE` (gated MLP), dynamic binarization inside the XLA-compiled
train step, on the real MNIST: a shortened run in the default suite (300
steps), and the full 3 epochs marked `large` (about 2 minutes on 2 CPU
cores: `python -m pytest -m large`). Both skip when no prepared TFDS `mnist`
is found, and fail instead in CI (`CI=true`).
"""

import keras
import pytest

import keras_vae
from keras_vae.testing import prepared_tfds_dir
from keras_vae.testing import requires_tfds

DATA_DIR = prepared_tfds_dir("mnist")
pytestmark = requires_tfds("mnist")


def test_gated_vae_beats_its_untrained_self_in_300_steps():
    train = keras_vae.datasets.load(
        "mnist", "train", binarization=None, data_dir=DATA_DIR, batch_size=100
    ).take(300)
    x_test = keras_vae.datasets.load("mnist", "test", data_dir=DATA_DIR, as_numpy=True)[:200]
    model = keras_vae.models.VAE(dynamic_binarization=True, seed=0)
    model.build((None,) + x_test.shape[1:])
    untrained = keras_vae.diagnostics.log_likelihood(model, x_test, num_importance_samples=20).nll
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(train, epochs=1, shuffle=False, verbose=0).history
    trained = keras_vae.diagnostics.log_likelihood(model, x_test, num_importance_samples=20).nll
    # Measured: untrained 585 nats, after 300 steps 132 (epoch-mean ELBO -179).
    assert untrained > 500, untrained
    assert trained < untrained - 300 and trained < 180, (untrained, trained)
    assert history["elbo"][0] < -trained  # the epoch mean includes the first steps


@pytest.mark.large
def test_gated_vae_reaches_a_known_nll_on_mnist():
    train = keras_vae.datasets.load(
        "mnist", "train", binarization=None, data_dir=DATA_DIR, batch_size=100
    )
    x_test = keras_vae.datasets.load("mnist", "test", data_dir=DATA_DIR, as_numpy=True)
    model = keras_vae.models.VAE(dynamic_binarization=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=True)
    model.fit(train, epochs=3, shuffle=False, verbose=0)
    result = keras_vae.diagnostics.log_likelihood(model, x_test[:500], num_importance_samples=200)
    # Measured: 107.1 nats after 3 epochs (96.1 after 10, benchmarks/RESULTS.md);
    # a broken objective or sampler lands far above (an untrained model: ~540).
    assert 95.0 < result.nll < 112.0, result.nll
