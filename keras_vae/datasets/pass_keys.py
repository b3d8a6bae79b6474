"""`PassKeys`: the random key of each pass of a `keras_vae.datasets.load` stream."""

from keras_vae.utils.optional_tensorflow import import_tensorflow
from keras_vae.utils.optional_tensorflow import imported_tensorflow

# Second word of the root seed pair, so that the stream's draws do not share
# a key with anything else seeded from the same integer.
SALT = 0x5EED

# `base` of the passes started outside a `SeedDatasetEpochs`-driven `fit`.
UNDRIVEN = -1

# `base` of every validation pass under `fit` (`start_validation`): not a
# step count (those are >= 0) nor `UNDRIVEN`, so no training pass shares it.
VALIDATION = -2

# Sub-streams of a pass key (`fold_in` data): the order and the noise.
ORDER, NOISE = 0, 1

# RNG of every stateless op keyed from a `PassKeys`: the same on every device.
ALGORITHM = "philox"

# Attribute of a `load` dataset that holds its `PassKeys`.
_ATTRIBUTE = "_keras_vae_pass_keys"


def fold_in(key, data):
    """A new stateless key from `key` (shape `[2]`, int64) and an integer."""
    tf = import_tensorflow("A keras_vae.datasets.load stream (tf.data)")
    return tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64), alg=ALGORITHM)


class PassKeys:
    """The random key of every pass over one `keras_vae.datasets.load` stream.

    A pass (one iteration over the dataset: an epoch) draws its shuffling
    order and its binarization noise from one stateless key:

    ```none
    key(pass) = fold_in(fold_in([seed, 0x5EED], base), count)
    ```

    `base` and `count` are two int64 `tf.Variable`s. Each pass reads `base`
    and takes the next `count` when it produces its first element (not when
    its iterator is created), then draws everything from its key alone, so
    the pass is a pure function of `(seed, base, count)`. `start_epoch(base)`
    sets `base` and restarts `count` at 0: the next pass then gets key
    `(seed, base, 0)` whatever was iterated before. Left alone, `base` is
    `-1` and `count` numbers the passes in the order they start, so
    successive passes (`for x in ds` twice, `ds.repeat()`) differ and a
    newly loaded stream repeats the same sequence of passes.
    `start_validation()` keys the next pass `(seed, -2, 0)`: the pass of a
    validation stream, the same at every epoch of a `fit`.

    Args:
        seed: non-negative integer.
    """

    def __init__(self, seed):
        tf = import_tensorflow("A keras_vae.datasets.load stream (tf.data)")
        self.seed = int(seed)
        # Not trainable and outside any model: no optimizer or checkpoint of
        # a model picks these up. The training state they mirror is the
        # model's (see `SeedDatasetEpochs`).
        self.base = tf.Variable(tf.constant(UNDRIVEN, tf.int64), trainable=False)
        self.count = tf.Variable(tf.constant(0, tf.int64), trainable=False)

    def next_key(self):
        """The key of a new pass (graph code: call it once per pass)."""
        tf = import_tensorflow("A keras_vae.datasets.load stream (tf.data)")
        count = self.count.assign_add(1, read_value=True) - 1
        root = tf.constant([self.seed, SALT], tf.int64)
        return fold_in(fold_in(root, self.base.read_value()), count)

    def start_epoch(self, base):
        """Key the next pass `(seed, base, 0)`, and the ones after it
        `(seed, base, 1)`, `(seed, base, 2)`, ..."""
        self.base.assign(int(base))
        self.count.assign(0)

    def start_validation(self):
        """Key the next pass `(seed, -2, 0)` (see `VALIDATION`).

        `keras_vae.callbacks.SeedDatasetEpochs` calls it before every
        validation run of a `fit`, so a validation stream serves the same
        order and noise at every epoch: a function of its `load` seed only.
        """
        self.start_epoch(VALIDATION)


def attach(dataset, keys):
    """Record on `dataset` (a `tf.data.Dataset`) the `PassKeys` it draws from."""
    setattr(dataset, _ATTRIBUTE, keys)
    return dataset


def pass_keys_of(dataset):
    """The `PassKeys` of a `keras_vae.datasets.load` stream.

    Args:
        dataset: any object.

    Returns:
        The stream's `PassKeys`; `None` for a stream without randomness
        (no shuffling, no dynamic binarization).

    Raises:
        ValueError: when `dataset` is not a dataset returned by
            `keras_vae.datasets.load` (a dataset derived from one, e.g. by
            `map`, does not hold its keys).
    """
    if not is_load_stream(dataset):
        raise ValueError(
            "Expected a tf.data.Dataset returned by `keras_vae.datasets.load`. "
            f"Received: {type(dataset).__name__} {dataset!r}. A dataset made "
            "from one (by `map`, `take`, ...) draws from the same keys: pass "
            "the dataset `load` returned."
        )
    return getattr(dataset, _ATTRIBUTE)


def is_load_stream(dataset):
    """Whether `dataset` is a `keras_vae.datasets.load` stream."""
    # Asking must not import TensorFlow (a JAX-only install, numpy input).
    tf = imported_tensorflow()
    return tf is not None and isinstance(dataset, tf.data.Dataset) and hasattr(dataset, _ATTRIBUTE)
