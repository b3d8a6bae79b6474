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

    The examples `x` a subclass measures on are data, not configuration:
    the arguments named in `data_arguments` stay out of `get_config` (Keras
    callbacks are not serialized with their data), so a config is small,
    JSON-serializable and holds hyper-parameters only. `from_config` rebuilds
    a callback without its examples (`x=None`); if the subclass requires
    them (`requires_x`), `fit` then raises at its start until the callback
    is built again with them: `ActiveUnits(x, **config)`.

    Args:
        every: Positive integer, measure every `every` epochs.
        x: The examples to measure on, an array with a batch axis, or `None`.
    """

    data_arguments = ("x",)
    requires_x = True

    def __init__(self, every=1, x=None):
        super().__init__()
        self.every = check_positive_int(every, "every")
        self.x = None if x is None else check_examples(x)
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        if self.x is None and self.requires_x:
            name = type(self).__name__
            raise ValueError(
                f"Expected `x`, the examples {name} measures on. Received: "
                "x=None. A callback's config holds no data arrays: rebuild a "
                f"callback restored from its config with `{name}(x, **config)`."
            )
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
        # The config holds no examples: the callback has none until given
        # them again (`from_config({**config, "x": x})` also works).
        return cls(**{"x": None, **config})


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
