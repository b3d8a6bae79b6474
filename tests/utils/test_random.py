"""`keras_vae.utils.random` draws against scipy.stats, eager and under XLA."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from keras_vae.utils import random

# The JAX path is tested on both backends in tests/test_backends.py.
pytestmark = pytest.mark.tensorflow_only(
    reason="TensorFlow's pinned samplers, eager and tf.function(jit_compile=True)"
)

MODES = ["eager", "xla"]


def _draw(sampler, shape, mode, seed=0):
    generator = keras.random.SeedGenerator(seed)
    if mode == "eager":
        return sampler(shape, generator).numpy()
    compiled = tf.function(lambda: sampler(shape, generator), jit_compile=True)
    return compiled().numpy()


@pytest.mark.parametrize("mode", MODES)
def test_normal_matches_the_standard_normal(mode):
    z = _draw(random.normal, (400, 500), mode).ravel()
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2.0 / n)
    # The tails, which a KS test hardly sees: P(|z| > 3) = 2.7e-3.
    tail = 2 * scipy.stats.norm.sf(3.0)
    assert abs(np.mean(np.abs(z) > 3.0) - tail) < 5 * np.sqrt(tail / n)
    # Bounded by the grid's extreme point, sqrt(2) erfinv(1 - 2^-24).
    assert np.abs(z).max() <= -scipy.stats.norm.ppf(2.0**-25) + 1e-4


@pytest.mark.parametrize("mode", MODES)
def test_uniform_matches_the_unit_interval(mode):
    u = _draw(random.uniform, (400, 500), mode).ravel()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_seeded_and_successive_draws_independent(mode):
    def two_draws(shape, generator):
        return tf.stack([random.normal(shape, generator), random.normal(shape, generator)])

    first, second = _draw(two_draws, (20000,), mode)
    np.testing.assert_array_equal(_draw(two_draws, (20000,), mode)[0], first)
    assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(first.size)
    assert not np.array_equal(_draw(two_draws, (20000,), mode, seed=1)[0], first)


def test_normal_casts_to_the_requested_dtype():
    z = _draw(lambda shape, g: random.normal(shape, g, dtype="bfloat16"), (8,), "xla")
    assert z.dtype == tf.bfloat16.as_numpy_dtype


@pytest.mark.parametrize("mode", MODES)
def test_normal_from_bits_on_the_whole_grid_tails(mode):
    # Every k = bits >> 8 near both ends of the grid, and a random middle:
    # z = Phi^-1((k + 1/2) / 2^24) (scipy), finite at the extreme points.
    k = np.concatenate(
        [
            np.arange(0, 4096),
            np.arange(2**24 - 4096, 2**24),
            np.random.default_rng(0).integers(0, 2**24, 8192),
        ]
    ).astype("uint32")
    bits = tf.constant((k << 8) | 0x5A, tf.uint32)
    fn = random.normal_from_bits
    if mode == "xla":
        fn = tf.function(fn, jit_compile=True)
    want = scipy.special.ndtri((k.astype("float64") + 0.5) / 2**24)
    np.testing.assert_allclose(fn(bits).numpy(), want, rtol=2e-5, atol=2e-5)
