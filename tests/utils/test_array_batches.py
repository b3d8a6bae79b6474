"""`ArrayBatches`: the array batches of `fit` when TensorFlow is not installed.

Oracle: the rows themselves (every row once per epoch, in order without
shuffling), and Keras's own `PyDataset` iteration (an identity model's
`predict` returns the rows). Runs on both backends: it needs NumPy and Keras
only.
"""

import keras
import numpy as np

from keras_vae.utils.array_batches import ArrayBatches


def _epoch(batches):
    batches.on_epoch_begin()
    rows = np.concatenate([batches[i] for i in range(len(batches))])
    batches.on_epoch_end()
    return rows


def test_batches_in_order_with_remainder():
    x = np.arange(14.0).reshape(7, 2)
    batches = ArrayBatches(x, 3)
    assert len(batches) == 3
    assert [len(batches[i]) for i in range(3)] == [3, 3, 1]
    np.testing.assert_array_equal(_epoch(batches), x)


def test_shuffles_every_row_once_per_epoch_from_numpy_seed():
    x = np.arange(200.0)
    np.random.seed(0)
    batches = ArrayBatches(x, 16, shuffle=True)
    first, second = _epoch(batches), _epoch(batches)
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(epoch), x)
    assert not np.array_equal(first, x)
    assert not np.array_equal(first, second)
    np.random.seed(0)
    np.testing.assert_array_equal(_epoch(ArrayBatches(x, 16, shuffle=True)), first)


def test_keras_predict_iterates_the_batches():
    x = np.arange(10.0).reshape(5, 2).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    out = model.predict(ArrayBatches(x, 2), verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), x)
