"""Fail fast when Keras is not running on the TensorFlow backend."""

import keras


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
