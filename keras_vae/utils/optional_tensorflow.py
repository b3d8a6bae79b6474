"""TensorFlow as an optional module: imported where a feature needs it.

keras_vae's layers, models and training run on Keras's JAX backend without
TensorFlow installed. TensorFlow-only features (the `tf.data` input
pipeline, SavedModel export, TensorBoard images, `tf.distribute`) import it
through `import_tensorflow(feature)` when they run, so a missing
TensorFlow fails there with an error naming the feature, not at
`import keras_vae`.
"""

import functools
import sys


def import_tensorflow(feature):
    """The `tensorflow` module, imported now.

    Args:
        feature: What needs TensorFlow, named in the error (e.g.
            `"keras_vae.export.export_for_serving"`).

    Raises:
        ImportError: if TensorFlow cannot be imported; the message names
            `feature` and how to install TensorFlow.
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            f"{feature} needs TensorFlow, which cannot be imported here "
            f"({error}): pip install tensorflow"
        ) from error
    return tf


def import_tensorflow_probability(feature):
    """The `tensorflow_probability` module, imported now.

    Raises:
        ImportError: if it cannot be imported; the message names `feature`
            and how to install it.
    """
    try:
        import tensorflow_probability as tfp
    except ImportError as error:
        raise ImportError(
            f"{feature} needs TensorFlow Probability, which cannot be imported "
            f"here ({error}): pip install tensorflow 'tensorflow-probability[tf]'"
        ) from error
    return tfp


@functools.cache
def tensorflow_available():
    """Whether TensorFlow can be imported (it is imported to find out, once)."""
    try:
        import_tensorflow("keras_vae")
    except ImportError:
        return False
    return True


def imported_tensorflow():
    """The `tensorflow` module if this process imported it already, else `None`.

    No object can be a TensorFlow tensor or `tf.data.Dataset` unless
    TensorFlow was imported, so type checks of user inputs ask this instead
    of importing TensorFlow.
    """
    return sys.modules.get("tensorflow")
