"""The supported Keras backends, and keras_vae's sampling on the one in use.

`import keras_vae` works on TensorFlow and JAX and refuses any other
backend (checked in fresh interpreters: the backend is fixed at import).
`keras_vae.utils.random` draws with TensorFlow's pinned samplers on
TensorFlow and with `keras.random` elsewhere; on either backend its draws
follow their distributions, eagerly and XLA-compiled, and a seed fixes them.
"""

import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats

from keras_vae.testing.backend import compiled
from keras_vae.testing.scripts import script_env
from keras_vae.utils import random

MODES = ["eager", "xla"]


def _import_keras_vae(backend):
    env = dict(script_env(), KERAS_BACKEND=backend)
    return subprocess.run(
        [sys.executable, "-c", "import keras, keras_vae; print(keras.backend.backend())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_import_works_on_the_supported_backends(backend):
    proc = _import_keras_vae(backend)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == backend


def test_import_refuses_another_backend():
    # Keras's NumPy backend is installed with Keras, and keras_vae refuses it.
    proc = _import_keras_vae("numpy")
    assert proc.returncode != 0
    assert "Expected the Keras backend to be one of 'tensorflow', 'jax'" in proc.stderr
    assert "Received: keras.backend.backend()='numpy'" in proc.stderr


def _draw(sampler, mode, seed=0):
    """`sampler(generator)` with a fresh generator, eagerly or XLA-compiled."""
    generator = keras.random.SeedGenerator(seed)
    if mode == "eager":
        return keras.ops.convert_to_numpy(sampler(generator))
    return keras.ops.convert_to_numpy(compiled(lambda: sampler(generator), state=[generator])())


@pytest.mark.parametrize("mode", MODES)
def test_normal_and_uniform_follow_their_distributions(mode):
    z = _draw(lambda g: random.normal((200, 500), g), mode).ravel()
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2.0 / z.size)
    u = _draw(lambda g: random.uniform((200, 500), g), mode).ravel()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_categorical_frequencies_follow_the_softmax(mode):
    logits = np.array([[0.0, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, -2.0]], "float32")
    n = 20000
    idx = _draw(lambda g: random.categorical(logits, n, g), mode)
    assert idx.shape == (2, n)
    p = scipy.special.softmax(logits.astype("float64"), axis=-1)
    freq = np.stack([np.bincount(row, minlength=4) / n for row in idx])
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_a_seed_fixes_the_draws_and_successive_draws_differ(mode):
    def two(g):
        return keras.ops.stack([random.normal((5000,), g), random.normal((5000,), g)])

    first, second = _draw(two, mode)
    np.testing.assert_array_equal(_draw(two, mode)[0], first)
    assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(first.size)
    assert not np.array_equal(_draw(two, mode, seed=1)[0], first)


@pytest.mark.parametrize("mode", MODES)
def test_a_generator_restored_from_its_state_redraws_the_next_draw(mode):
    # Each draw advances the SeedGenerator one step, as a `keras.random`
    # draw does, so a saved state (a checkpoint, an exact resume) fixes the
    # draws that follow it.
    def draws(generator):
        def draw():
            return keras.ops.concatenate(
                [random.normal((500,), generator), random.uniform((500,), generator)]
            )

        return draw if mode == "eager" else compiled(draw, state=[generator])

    generator, twin = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    first = keras.ops.convert_to_numpy(draws(generator)())
    keras.random.normal((1,), seed=twin)
    keras.random.uniform((1,), seed=twin)
    saved = keras.ops.convert_to_numpy(generator.state)
    np.testing.assert_array_equal(saved, keras.ops.convert_to_numpy(twin.state))
    restored = keras.random.SeedGenerator(0)
    restored.state.assign(saved)
    second = keras.ops.convert_to_numpy(draws(generator)())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(draws(restored)()), second)
    assert not np.array_equal(first, second)


def test_normal_casts_to_the_requested_dtype():
    z = _draw(lambda g: random.normal((8,), g, dtype="bfloat16"), "eager")
    assert keras.backend.standardize_dtype(z.dtype) == "bfloat16"


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="TensorFlow draws with Philox eagerly and ThreeFry under XLA (utils/random.py)",
)
def test_jax_draws_the_same_eagerly_and_compiled():
    def sampler(g):
        return keras.ops.concatenate([random.normal((100,), g), random.uniform((100,), g)])

    np.testing.assert_array_equal(_draw(sampler, "eager"), _draw(sampler, "xla"))
