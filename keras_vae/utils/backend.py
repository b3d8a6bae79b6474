"""Backend facts: the supported-backend check, and whether a tensor has values."""

import keras
import numpy as np

from keras_vae.utils.optional_tensorflow import imported_tensorflow

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def check_backend():
    """Raise `ImportError` unless Keras uses a backend keras_vae supports.

    keras_vae runs on the TensorFlow and JAX Keras backends: its layers,
    priors, likelihoods and losses compute with `keras.ops` and
    `keras.random`, and need no TensorFlow under JAX. `tf.data` input and
    SavedModel export stay TensorFlow modules, which work under either
    backend when TensorFlow is installed.
    """
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise ImportError(
            "Expected the Keras backend to be one of "
            f"{', '.join(repr(b) for b in SUPPORTED_BACKENDS)} (keras_vae supports "
            f"those only). Received: keras.backend.backend()={backend!r}. Set the "
            "environment variable KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax "
            "before importing keras (or edit ~/.keras/keras.json)."
        )


def is_concrete(x):
    """Whether `x` holds values now: numpy data, or an eager tensor/array.

    Symbolic tensors (inside a `tf.function`, an XLA step, a `jax.jit` or
    `jax.grad` trace, or a functional model) have no values to validate;
    callers skip value checks for them.
    """
    if isinstance(x, (np.ndarray, np.generic, int, float)):
        return True
    if keras.backend.backend() == "jax":
        import jax

        if isinstance(x, jax.Array):
            # A tracer is a `jax.Array` too, but holds no values.
            return not isinstance(x, jax.core.Tracer)
    # TensorFlow tensors (e.g. from `tf.data`) may reach either backend; there
    # are none unless TensorFlow was imported.
    tf = imported_tensorflow()
    return tf is not None and tf.is_tensor(x) and not tf.is_symbolic_tensor(x)
