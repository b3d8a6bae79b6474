"""The `tf.data` pipeline that `fit`, `evaluate` and `predict` iterate.

Keras builds a new `tf.data` iterator for every epoch (and every `evaluate`
call) and destroys the old one. With tf.data autotuning on (its default), the
iterator owns a model thread that sleeps between optimisation rounds, doubling
the sleep each round (10 ms, 20 ms, ... 5.12 s), and the iterator's destructor
waits for that sleep to end. An epoch of a few seconds therefore ends with up
to ~5 s in which no thread computes: on MNIST-sized epochs this made epoch
times swing by 30-70 % and cost up to a third of the throughput (RESULTS §11).

`array_dataset` builds the pipeline Keras would build for in-memory arrays
(per-epoch shuffled index batches gathered from the array) with autotuning
off; `without_autotune` turns it off on a user's dataset unless the user set
`options.autotune.enabled` themselves.

On Keras's JAX backend `array_dataset` gives the same batches as a
`keras.utils.PyDataset` of NumPy arrays (`ArrayBatches`), with or without
TensorFlow installed: the JAX trainer turns every `tf.data` batch into
NumPy anyway, and the NumPy batches train the default VAE ~6 % faster
there (RESULTS §11.11). Without TensorFlow `without_autotune` has no
dataset to change.
"""

import keras

from keras_vae.utils.array_batches import ArrayBatches
from keras_vae.utils.optional_tensorflow import import_tensorflow
from keras_vae.utils.optional_tensorflow import imported_tensorflow
from keras_vae.utils.optional_tensorflow import tensorflow_available


def without_autotune(dataset):
    """`dataset` with tf.data autotuning off, unless its options set it.

    Args:
        dataset: A `tf.data.Dataset`, or any other input of `fit` (returned
            as is).

    Returns:
        The dataset, with `options.autotune.enabled = False` if the user left
        that option unset; otherwise unchanged.

    Example:

    >>> ds = tf.data.Dataset.range(4).batch(2)
    >>> keras_vae.utils.input_pipeline.without_autotune(ds).options().autotune.enabled
    False
    """
    tf = imported_tensorflow()  # a `tf.data.Dataset` means TensorFlow is imported
    if tf is None or not isinstance(dataset, tf.data.Dataset):
        return dataset
    if dataset.options().autotune.enabled is not None:
        return dataset  # the user's explicit choice
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def array_dataset(x, batch_size=None, shuffle=False):
    """Batches of the rows of `x`, reshuffled every epoch, without autotuning.

    The rows are not copied into a shuffle buffer: each epoch shuffles the
    row indices and gathers every batch from `x`, as Keras does for arrays.
    The last batch holds the remainder.

    Args:
        x: A NumPy array or tensor, rows along axis 0.
        batch_size: Rows per batch. Defaults to 32 (Keras's default).
        shuffle: Whether to draw a new order of the rows every epoch.

    Returns:
        A `tf.data.Dataset` of `x`'s batches, autotuning off; an
        `ArrayBatches` of the same batches on the JAX backend or if
        TensorFlow is not installed.

    Example:

    >>> ds = keras_vae.utils.input_pipeline.array_dataset(np.arange(5.0), 2)
    >>> [batch.tolist() for batch in ds.as_numpy_iterator()]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
    """
    batch_size = 32 if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError(f"Expected `batch_size` >= 1. Received: batch_size={batch_size}")
    if keras.backend.backend() == "jax" or not tensorflow_available():
        return ArrayBatches(x, batch_size, shuffle)
    tf = import_tensorflow("keras_vae.utils.input_pipeline.array_dataset")
    num_rows = int(x.shape[0])
    indices = tf.data.Dataset.range(num_rows)
    if shuffle:
        indices = indices.shuffle(num_rows, reshuffle_each_iteration=True)
    indices = indices.batch(batch_size)
    # The array is one dataset element (not a graph constant), so a large
    # array does not hit the 2 GB graph limit.
    rows = tf.data.Dataset.from_tensors(x).repeat()
    dataset = tf.data.Dataset.zip((indices, rows)).map(lambda i, data: tf.gather(data, i))
    options = tf.data.Options()
    # Arrays are the same on every worker: shard the batches, not files.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return without_autotune(dataset.with_options(options).prefetch(2))
