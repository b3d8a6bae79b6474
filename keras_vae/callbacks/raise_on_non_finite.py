"""RaiseOnNonFinite: stop with a clear error at the first bad training step."""

import math

import keras

from keras_vae.trainers.step_guard import DATA_ABOVE_SUPPORT
from keras_vae.trainers.step_guard import DATA_BELOW_SUPPORT
from keras_vae.trainers.step_guard import NON_FINITE_DATA
from keras_vae.trainers.step_guard import NON_FINITE_LOSS


class NonFiniteLossError(FloatingPointError):
    """Raised by `RaiseOnNonFinite` when training produces a non-finite loss
    or gradient (or meets a batch with non-finite values)."""


class NonFiniteDataError(NonFiniteLossError, ValueError):
    """A batch of streamed data held NaN or infinite values.

    Both a `NonFiniteLossError` (training stopped at a non-finite step) and
    a `ValueError` (the data broke a rule, as an in-memory array would).
    """


_MODES = {"train": "training", "test": "evaluation", "predict": "prediction"}


def step_guard_error(model, mode, report, epoch=None):
    """The exception for a bad step `report = (batch, reason, (min, max))`
    recorded by a keras_vae model's step guard in `mode`."""
    batch, reason, (lo, hi) = report
    where = f"batch {batch}" if epoch is None else f"epoch {epoch}, batch {batch}"
    skipped = (
        "The update of that step and of any later step of the same execution "
        "was skipped, so the model keeps the weights of the last good step. "
        if mode == "train"
        else ""
    )
    if reason & NON_FINITE_DATA:
        cls = NonFiniteDataError if mode == "train" else ValueError
        return cls(
            f"Expected `x` to hold only finite values. Received: a batch with "
            f"non-finite values (NaN or inf) at {where}. {_MODES[mode].capitalize()} "
            f"stopped. {skipped}Check the data pipeline."
        )
    if reason & (DATA_BELOW_SUPPORT | DATA_ABOVE_SUPPORT):
        low, high = model.data_support()
        return ValueError(
            f"Expected `x` to lie in [{low:g}, {high:g}] (the support of the "
            f"model's {type(model.likelihood).__name__} likelihood). Received: "
            f"a batch with min={lo:g}, max={hi:g} at {where}. {skipped}Rescale "
            "the data, e.g. `x / 255` for 8-bit images."
        )
    what = "loss" if reason & NON_FINITE_LOSS else "gradient (with a finite loss)"
    return NonFiniteLossError(
        f"Training stopped: the {what} became non-finite at {where}. {skipped}"
        "Check the data for NaN/inf or out-of-range values, the model for "
        "operations with unbounded derivatives (e.g. sqrt or log at 0), or "
        "lower the learning rate."
    )


@keras.saving.register_keras_serializable(package="keras_vae")
class RaiseOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first bad step, with a clear error.

    keras_vae's train step skips the update of any step whose loss or
    gradients are not finite, or whose batch is not finite or lies outside
    the likelihood's support (checked inside the compiled step, so streamed
    `tf.data` inputs are checked too); every later step of the same
    execution (`steps_per_execution > 1`) skips its update as well. This
    callback then raises, naming the epoch and the batch of that step:
    `NonFiniteLossError` for a non-finite loss or gradient,
    `NonFiniteDataError` (also a `ValueError`) for a non-finite batch, and
    `ValueError` for data outside the support. During `evaluate` and
    `predict` it raises `ValueError` for a batch that breaks the data's
    rules.

    `fit`, `evaluate` and `predict` on keras_vae models add it unless one
    is already given, also when Keras's own `keras.callbacks.TerminateOnNaN`
    is (which sees only the loss and stops quietly; this one raises and
    names the cause, hence its own name). On other models it checks the
    logged loss.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,))
    >>> vae.compile(optimizer="adam")
    >>> x = x_train.copy()
    >>> x[150] = np.nan  # a corrupt example in the second batch of 100
    >>> data = tf.data.Dataset.from_tensor_slices(x).batch(100)
    >>> vae.fit(data, verbose=0, callbacks=[keras_vae.callbacks.RaiseOnNonFinite()])
    Traceback (most recent call last):
    ...
    keras_vae.callbacks.raise_on_non_finite.NonFiniteDataError: Expected `x` to
    hold only finite values. Received: a batch with non-finite values (NaN or inf)
    at epoch 0, batch 1. ...
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def _guard(self, mode):
        step_guard = getattr(self.model, "step_guard", None)
        return None if step_guard is None else step_guard(mode)

    def _reset(self, mode, step=True):
        guard = self._guard(mode)
        if guard is not None:
            guard.reset(step=step)

    def _check(self, mode, epoch=None):
        guard = self._guard(mode)
        report = None if guard is None else guard.report()
        if report is not None:
            if mode == "train":
                self.model.stop_training = True
            raise step_guard_error(self.model, mode, report, epoch)
        return guard is not None

    def on_train_begin(self, logs=None):
        self._reset("train")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._reset("train")

    def on_train_batch_end(self, batch, logs=None):
        if self._check("train", self._epoch):
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise NonFiniteLossError(
                f"Training stopped: the loss became non-finite (loss={float(loss)}) "
                f"at epoch {self._epoch}, batch {batch}. Check the data for "
                "NaN/inf or out-of-range values, or lower the learning rate."
            )

    def on_test_begin(self, logs=None):
        self._reset("test")

    def on_test_batch_end(self, batch, logs=None):
        self._check("test")

    def on_predict_begin(self, logs=None):
        self._reset("predict")

    def on_predict_batch_end(self, batch, logs=None):
        self._check("predict")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
