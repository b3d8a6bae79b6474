"""TerminateOnNaN: stop with a clear error when the loss is not finite."""

import math

import keras


class NonFiniteLossError(FloatingPointError):
    """Raised by `TerminateOnNaN` when training produces a non-finite loss."""


@keras.saving.register_keras_serializable(package="keras_vae")
class TerminateOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, with a clear error.

    keras_vae's train step skips any update whose loss or gradients are not
    finite, so the model keeps the weights of the last good step; this
    callback then raises `NonFiniteLossError` naming the epoch and batch.
    `fit` on keras_vae models adds it unless one is already given.

    Example:

    >>> vae.fit(x, callbacks=[keras_vae.callbacks.TerminateOnNaN()])
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"Training stopped: the loss became non-finite (loss={float(loss)}) "
                f"at epoch {self._epoch}, batch {batch}. The update of that "
                "step was skipped, so the model keeps the weights of the last "
                "finite step. Check the data for NaN/inf or out-of-range "
                "values, or lower the learning rate."
            )

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
