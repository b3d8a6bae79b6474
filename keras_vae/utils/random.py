"""Seeded sampling that stays fast under XLA on CPU.

`keras.random.*` calls TensorFlow's stateless samplers with the default
`alg="auto_select"`, which XLA on CPU compiles to a path 50-80x slower than
Philox (measured here: 35 ms vs 0.6 ms for a 100x784 uniform draw), enough to
make a VAE step with dynamic binarization 4x slower with `jit_compile=True`.
These wrappers take the same `keras.random.SeedGenerator` and pin the
counter-based generator:

- ThreeFry inside an XLA-compiled function: 4x faster than Philox under
  XLA:CPU (0.24 vs 1.0 ms per 100x784 uniform draw, measured here), but
  TensorFlow has no ThreeFry kernel outside XLA;
- Philox elsewhere (eager, plain graphs, a multi-replica strategy's steps).

So one seed gives different draws with and without XLA, as it does across
devices.

Normal draws invert the Gaussian CDF of a uniform draw,
z = sqrt(2) erfinv(v), instead of TensorFlow's Box-Muller transform, whose
cosine and sine XLA:CPU calls one element at a time through libm (13 ms vs
2.7 ms for the 42x500x40 noise of one log-likelihood chunk). `v` lies on
the symmetric grid (k + 1/2) / 2^23 - 1, k uniform on {0, ..., 2^24 - 1},
so every draw is finite and |z| <= 5.49 (a Box-Muller draw from float32
uniforms is bounded at 5.77; the normal mass beyond 5.49 is 4e-8).

This is the only backend-specific sampling code of keras_vae, and the
backend is chosen once, here (`_TENSORFLOW`): every other backend (JAX)
draws with `keras.random` from the same `SeedGenerator` (JAX's ThreeFry,
the same under `jax.jit` and eagerly). XLA has nothing much faster for it
on CPU (`KERAS_BACKEND=jax python benchmarks/random_draws.py`: the same
draws under `jax.jit`, interleaved, minimum over 30 rounds): XLA's own
ThreeFry (`jax.lax.rng_bit_generator`) takes 0.8x the CPU time of JAX's
for a 100x784 uniform and a 21000x40 normal draw (0.29 vs 0.35 ms and
4.7 vs 6.0 ms, measured here), Philox and `rbg` keys 3-4x more. The draws
are a few percent of a VAE training step or of a log-likelihood chunk on
JAX (42 x 500 samples per chunk), so the step is no faster with them replaced
by constants, within noise. Seeds, shapes and dtypes mean the same on
both backends; the draws differ between backends, as they do between
eager and XLA on TensorFlow.
"""

import math

import keras

# The one backend switch of keras_vae's sampling, fixed at import like
# Keras's own backend. Other backends need no TensorFlow installed.
_TENSORFLOW = keras.backend.backend() == "tensorflow"
if _TENSORFLOW:
    import tensorflow as tf

    from keras_vae.utils import tf_internal


def _seed(seed_generator):
    # SeedGenerator state is int64; stateless ops under XLA want int32.
    seed = seed_generator.next()
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")


def _alg():
    return "threefry" if tf_internal.in_xla_context() else "philox"


def uniform(shape, seed, dtype="float32"):
    """U[0, 1) samples; `seed` is a `keras.random.SeedGenerator`."""
    if not _TENSORFLOW:
        return keras.random.uniform(shape, dtype=dtype, seed=seed)
    return tf.random.stateless_uniform(shape, seed=_seed(seed), dtype=dtype, alg=_alg())


def normal(shape, seed, dtype="float32"):
    """N(0, 1) samples; `seed` is a `keras.random.SeedGenerator`."""
    if not _TENSORFLOW:
        # Drawn in float32 and cast, as on TensorFlow (a bfloat16 draw would
        # have a coarser grid of values).
        return keras.ops.cast(keras.random.normal(shape, dtype="float32", seed=seed), dtype)
    bits = tf.random.stateless_uniform(
        shape, seed=_seed(seed), minval=None, maxval=None, dtype="uint32", alg=_alg()
    )
    return tf.cast(normal_from_bits(bits), dtype)


def normal_from_bits(bits):
    """The N(0, 1) draw of uniform `uint32` bits (TensorFlow backend only):
    z = sqrt(2) erfinv(v) with v = (k + 1/2) / 2^23 - 1, k = bits >> 8, in
    float32."""
    if not _TENSORFLOW:
        raise RuntimeError(
            "`normal_from_bits` is the TensorFlow backend's sampler. Received: "
            f"keras.backend.backend()={keras.backend.backend()!r}; use `normal`."
        )
    # k - 2^23 + 1/2 is exact in float32 (at most 24 significant bits).
    k = tf.cast(tf.bitwise.right_shift(bits, 8), "int32") - (1 << 23)
    v = (tf.cast(k, "float32") + 0.5) * (2.0**-23)
    # erfinv on the negative half only: TensorFlow's eager kernel returns inf
    # at v = 1 - 2^-24 and loses digits near 1, but not near -1.
    return -math.sqrt(2.0) * tf.math.erfinv(-tf.abs(v)) * tf.sign(v)


def categorical(logits, num_samples, seed):
    """Class indices, shape `(batch, num_samples)`, from `(batch, K)` logits."""
    if not _TENSORFLOW:
        return keras.random.categorical(logits, num_samples, dtype="int32", seed=seed)
    # stateless_categorical has no `alg`; invert the CDF of a uniform draw.
    u = uniform((num_samples, tf.shape(logits)[0]), seed)
    cdf = tf.math.cumsum(tf.nn.softmax(logits, axis=-1), axis=-1)
    idx = tf.searchsorted(cdf, tf.transpose(u), side="right")
    return tf.minimum(idx, tf.shape(logits)[-1] - 1)
