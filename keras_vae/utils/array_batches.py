"""ArrayBatches: the batches of an array as a `keras.utils.PyDataset`."""

import math

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of the rows of `x`, reshuffled every epoch, with NumPy only.

    The batches of `keras_vae.utils.input_pipeline.array_dataset` for a
    process without TensorFlow (Keras's JAX backend): at the start of every
    epoch the row indices are permuted (NumPy's global generator, which
    `keras.utils.set_random_seed` seeds) and batch `i` gathers rows
    `order[i * batch_size : (i + 1) * batch_size]`; the last batch holds the
    remainder. Batches are made in the training thread (no workers).

    Args:
        x: A NumPy array, rows along axis 0.
        batch_size: Positive integer, rows per batch.
        shuffle: Whether to draw a new order of the rows every epoch.

    Example:

    >>> batches = ArrayBatches(np.arange(5.0), 2)
    >>> [batches[i].tolist() for i in range(len(batches))]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
    """

    def __init__(self, x, batch_size, shuffle=False):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x = x
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.order = None

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_begin(self):
        if self.shuffle:
            self.order = np.random.permutation(len(self.x))

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.order is None:
            return self.x[rows]
        return self.x[self.order[rows]]
