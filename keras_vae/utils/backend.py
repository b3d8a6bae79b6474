"""Backend facts: the TensorFlow check, and whether a tensor has values."""

import keras
import numpy as np
import tensorflow as tf


def check_backend():
    """Raise `ImportError` unless Keras uses the TensorFlow backend.

    keras_vae builds on TensorFlow Probability, `tf.data`, `tf.distribute` and
    SavedModel export, so it cannot run on another backend.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(
            "keras_vae requires the TensorFlow Keras backend. "
            f"Received: keras.backend.backend()={backend!r}. Set the "
            "environment variable KERAS_BACKEND=tensorflow before importing "
            "keras (or edit ~/.keras/keras.json)."
        )


def is_concrete(x):
    """Whether `x` holds values now: numpy data or an eager tensor.

    Symbolic tensors (inside a `tf.function`, an XLA step or a functional
    model) have no values to validate; callers skip value checks for them.
    """
    if isinstance(x, (np.ndarray, np.generic, int, float)):
        return True
    return tf.is_tensor(x) and not tf.is_symbolic_tensor(x)
