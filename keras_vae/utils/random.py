"""Seeded sampling that stays fast under XLA on CPU.

`keras.random.*` calls TensorFlow's stateless samplers with the default
`alg="auto_select"`, which XLA on CPU compiles to a path 50-80x slower than
Philox (measured here: 35 ms vs 0.6 ms for a 100x784 uniform draw), enough to
make a VAE step with dynamic binarization 4x slower with `jit_compile=True`.
These wrappers take the same `keras.random.SeedGenerator` and pin Philox.
This is the only TensorFlow-specific sampling code; another backend would
use `keras.random` here.
"""

import tensorflow as tf

_ALG = "philox"


def _seed(seed_generator):
    # SeedGenerator state is int64; stateless ops under XLA want int32.
    seed = seed_generator.next()
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")


def uniform(shape, seed, dtype="float32"):
    """U[0, 1) samples; `seed` is a `keras.random.SeedGenerator`."""
    return tf.random.stateless_uniform(shape, seed=_seed(seed), dtype=dtype, alg=_ALG)


def normal(shape, seed, dtype="float32"):
    """N(0, 1) samples; `seed` is a `keras.random.SeedGenerator`."""
    return tf.random.stateless_normal(shape, seed=_seed(seed), dtype=dtype, alg=_ALG)


def categorical(logits, num_samples, seed):
    """Class indices, shape `(batch, num_samples)`, from `(batch, K)` logits."""
    # stateless_categorical has no `alg`; invert the CDF of a Philox uniform.
    u = uniform((num_samples, tf.shape(logits)[0]), seed)
    cdf = tf.math.cumsum(tf.nn.softmax(logits, axis=-1), axis=-1)
    idx = tf.searchsorted(cdf, tf.transpose(u), side="right")
    return tf.minimum(idx, tf.shape(logits)[-1] - 1)
