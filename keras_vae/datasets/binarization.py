"""Static (numpy, fixed seed) and dynamic (stateless, keyed per pass) binarization."""

import numpy as np

from keras_vae.utils.optional_tensorflow import import_tensorflow

# Seed of the protocol "validation and test sets binarized once (numpy seed 777)".
STATIC_SEED = 777


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


def binarize_stateless(intensities, seed):
    """Bernoulli-sample a tensor of intensities from a stateless key.

    ```none
    b = 1[u < x],   u = tf.random.stateless_uniform(shape(x), seed, alg="philox")
    ```

    The draw is a pure function of `seed` and the shape: `keras_vae.datasets.load`
    calls it inside `tf.data` with a key per batch (or element) and per pass,
    which makes its `"dynamic"` binarization fresh on every epoch and
    reproducible from the `load` seed and the epoch's key alone.

    Args:
        intensities: floating point tensor of values in [0, 1], any shape.
        seed: stateless seed, an int64 tensor of shape `[2]`.

    Returns:
        A tensor of the same shape and dtype holding 0 and 1.

    Example:

    >>> x = tf.fill([2, 3], 0.5)
    >>> b = keras_vae.datasets.binarization.binarize_stateless(x, [1, 2])
    >>> bool(tf.reduce_all((b == 0) | (b == 1)))
    True

    Reference:
    - [Salakhutdinov & Murray, 2008](https://doi.org/10.1145/1390156.1390266)
    - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    tf = import_tensorflow("binarize_stateless")
    u = tf.random.stateless_uniform(
        tf.shape(intensities), seed=seed, dtype=intensities.dtype, alg="philox"
    )
    return tf.cast(u < intensities, intensities.dtype)
