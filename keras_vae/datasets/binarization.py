"""Static (numpy, fixed seed) and dynamic (tf.data, per pass) binarization."""

import numpy as np
import tensorflow as tf

# Seed of the protocol "validation and test sets binarized once (numpy seed 777)".
STATIC_SEED = 777

# Second word of the stateless seed pair, so that binarization draws do not
# share a stream with anything else seeded from the same integer.
_DYNAMIC_SALT = 0x5EED


def binarize_static(intensities, seed=STATIC_SEED):
    """Binarize an array once, with a fixed numpy seed.

    Each pixel becomes 1 with probability equal to its intensity:

    ```none
    b = 1[u < x],   u ~ Uniform(0, 1) from np.random.RandomState(seed)
    ```

    The uniforms are drawn as `rng.uniform(size=x.shape)` over the whole array
    in its given order, so the result depends only on `seed`, the array's
    shape and its values.

    Args:
        intensities: array of values in [0, 1], e.g. of shape `(N, H, W, 1)`.
        seed: integer seed of `np.random.RandomState`. Defaults to 777.

    Returns:
        A `uint8` array of the same shape holding 0 and 1.

    Example:

    >>> x = np.full((2, 3), 0.5)
    >>> b = keras_vae.datasets.binarization.binarize_static(x)
    >>> sorted(np.unique(b).tolist()) in ([0, 1], [0], [1])
    True
    """
    x = np.asarray(intensities, dtype=np.float64)
    rng = np.random.RandomState(seed)
    return (rng.uniform(size=x.shape) < x).astype(np.uint8)


def binarize_dynamic(dataset, seed):
    """Bernoulli-sample every element of a `tf.data.Dataset` afresh each pass.

    Each element `x` (intensities in [0, 1], any shape, batched or not) is
    replaced by `1[u < x]` with `u` drawn by `tf.random.stateless_uniform`.
    The stateless seed of each element comes from a
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)` stream
    zipped with the data, so every new iterator (every epoch) draws new
    samples, the sequence of epochs is reproducible for a given `seed`, and
    no Python runs per element. As for any seeded tf.data op, the stream also
    depends on TensorFlow's global seed (`keras.utils.set_random_seed`).

    Args:
        dataset: a `tf.data.Dataset` of floating point tensors in [0, 1].
        seed: integer seed.

    Returns:
        A `tf.data.Dataset` with the same element spec holding 0.0 and 1.0.

    Reference:
    - [Salakhutdinov & Murray, 2008](https://doi.org/10.1145/1390156.1390266)
    - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def sample(x, element_seed):
        pair = tf.stack([element_seed, tf.constant(_DYNAMIC_SALT, tf.int64)])
        u = tf.random.stateless_uniform(tf.shape(x), seed=pair, dtype=x.dtype)
        return tf.cast(u < x, x.dtype)

    return tf.data.Dataset.zip((dataset, seeds)).map(sample, num_parallel_calls=tf.data.AUTOTUNE)
