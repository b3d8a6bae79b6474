"""EpochSchedule: the logging schedule shared by the diagnostic callbacks."""

import keras
import numpy as np

from keras_vae.utils.validation import check_positive_int


class EpochSchedule(keras.callbacks.Callback):
    """Base of callbacks that measure the model every `every` epochs.

    `on_epoch_end` calls `measure(epoch, logs)` after the first epoch of
    every `fit` call (`CSVLogger` takes its columns from the first epoch)
    and then after every epoch whose 1-based number is a multiple of
    `every`. Nothing is computed on the other epochs.

    Args:
        every: Positive integer, measure every `every` epochs.
    """

    def __init__(self, every=1):
        super().__init__()
        self.every = check_positive_int(every, "every")
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        self._first_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        first, self._first_epoch = self._first_epoch, False
        if logs is None or ((epoch + 1) % self.every and not first):
            return
        self.measure(epoch, logs)

    def measure(self, epoch, logs):
        """Add the measurements of 0-based `epoch` to `logs`."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        # Subclasses serialize their examples `x` as a Keras object.
        config = dict(config)
        if config.get("x") is not None:
            config["x"] = keras.saving.deserialize_keras_object(config["x"])
        return cls(**config)


def check_examples(x, name="x"):
    """`x` as a float32 array with a non-empty batch axis, or raise."""
    x = np.asarray(x, dtype="float32")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(
            f"Expected `{name}` to be a non-empty batch of examples (an array "
            f"with a batch axis). Received: {name} of shape {x.shape}"
        )
    return x


def log_layers(logs, result, keys):
    """Put a result (or a list of per-layer results) into `logs`.

    `keys` maps each log key to a result field. One layer gives `key`;
    a list gives `key_1` ... `key_L`, bottom layer first.
    """
    layers = result if isinstance(result, list) else [result]
    for i, layer in enumerate(layers):
        suffix = f"_{i + 1}" if isinstance(result, list) else ""
        for key, field in keys.items():
            logs[key + suffix] = getattr(layer, field)
