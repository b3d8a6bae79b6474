"""TrueBatchCallbackList: batch-end callbacks get the index of the last batch run.

Keras 3.15 runs `steps_per_execution` steps per call of its compiled train,
test or predict function and reports the end of each call as batch `begin +
steps_per_execution - 1` (`keras/src/trainers/epoch_iterator.py`), whether or
not the data lasted that long. With keras_vae's default of 25 steps per
execution, a 13-batch epoch then ends at "batch 24": the progress bar reads
`25/13` with a negative ETA, and `on_train_batch_end`, `on_test_batch_end` and
`on_predict_batch_end` (and `keras.callbacks.BackupAndRestore(save_freq=N)`,
which counts batches from them) see batches that never ran.
"""

import math

import keras


class TrueBatchCallbackList(keras.callbacks.CallbackList):
    """A `keras.callbacks.CallbackList` whose batch ends name the true batch.

    The model's step guard counts the steps that really ran since the
    epoch (or the evaluation, or the prediction) began
    (`model.step_guard(mode).step`, see `keras_vae.trainers.StepGuard`). This list restarts that
    count at `on_train_begin`, `on_epoch_begin`, `on_test_begin` and
    `on_predict_begin`, and at the end of each execution passes

    ```none
    batch = steps run so far in this epoch - 1
    ```

    to every callback: the index of the last batch the execution ran, also
    when the number of batches is unknown (a generator without a length).
    With 13 batches and 25 steps per execution the callbacks see batch 12
    and the progress bar reads `13/13`. Batch begins are Keras's own (the
    first batch of an execution, already true). A model without a step
    guard, or whose steps do not count (a `train_step` override that does
    not record), gets Keras's index unchanged.

    keras_vae models build it in `fit`, `evaluate` and `predict` as Keras
    builds its own list (with a `keras.callbacks.History` in `fit` and a
    `keras.callbacks.ProgbarLogger` unless `verbose=0`), and `fit` passes it
    on to its validation, so validation's batch ends are true too.

    Args:
        callbacks: List of `keras.callbacks.Callback`s.
        add_history: Whether to add a `History` if none is in `callbacks`.
        add_progbar: Whether to add a `ProgbarLogger` if none is.
        model: The model the callbacks are used with.
        **params: Passed to each callback's `set_params` (`verbose`,
            `epochs`, `steps`).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        # The first batch of the running execution, per mode.
        self._first_batch = {}
        super().__init__(
            callbacks, add_history=add_history, add_progbar=add_progbar, model=model, **params
        )

    @classmethod
    def for_model(cls, model, callbacks, add_history=False, **params):
        """The list `fit` (`add_history=True`), `evaluate` or `predict` of
        `model` uses for `callbacks`: Keras's own defaults, as Keras would
        add them (a `ProgbarLogger` unless `params["verbose"] == 0`).

        A `TrueBatchCallbackList` is returned as is (`fit` passes its list
        to its validation); so is any other subclass of
        `keras.callbacks.CallbackList` (the user's own dispatch). A plain
        `keras.callbacks.CallbackList` is rebuilt around the same callbacks
        and params, adding nothing.
        """
        if isinstance(callbacks, cls):
            return callbacks
        if isinstance(callbacks, keras.callbacks.CallbackList):
            if type(callbacks) is not keras.callbacks.CallbackList:
                return callbacks
            return cls(callbacks.callbacks, model=model, **(callbacks.params or {}))
        return cls(
            callbacks,
            add_history=add_history,
            add_progbar=params.get("verbose", "auto") != 0,
            model=model,
            **params,
        )

    # ------------------------------------------------------------ the count
    def _guard(self, mode):
        step_guard = getattr(self.model, "step_guard", None)
        return None if step_guard is None else step_guard(mode)

    def _restart(self, mode):
        self._first_batch.pop(mode, None)
        guard = self._guard(mode)
        if guard is not None:
            self.model.sync_state()
            guard.step.assign(0)

    def true_batch(self, mode, batch):
        """The index of the last batch run in `mode`, for Keras's `batch`."""
        guard = self._guard(mode)
        first = self._first_batch.get(mode)
        if guard is None or first is None:
            return batch
        self.model.sync_state()  # JAX holds the count in the step's state
        steps = guard.steps()
        # An execution runs at least one step; a count that did not pass
        # its first batch is not counting.
        return steps - 1 if steps > first else batch

    # ------------------------------------------------------------- the hooks
    def on_train_begin(self, logs=None):
        self._restart("train")
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._restart("train")
        super().on_epoch_begin(epoch, logs)

    def on_test_begin(self, logs=None):
        self._restart("test")
        super().on_test_begin(logs)

    def on_predict_begin(self, logs=None):
        self._restart("predict")
        super().on_predict_begin(logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._first_batch["train"] = batch
        super().on_train_batch_begin(batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._first_batch["test"] = batch
        super().on_test_batch_begin(batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._first_batch["predict"] = batch
        super().on_predict_batch_begin(batch, logs)

    # Mapped before Keras may dispatch the callbacks to a thread, while the
    # count is that of this execution.
    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(self.true_batch("train", batch), logs)

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(self.true_batch("test", batch), logs)

    def on_predict_batch_end(self, batch, logs=None):
        super().on_predict_batch_end(self.true_batch("predict", batch), logs)


def num_batches(x, batch_size=None, steps=None, validation_split=0.0):
    """The number of batches per epoch Keras's epoch iterator reports for `x`.

    As `keras/src/trainers/epoch_iterator.py` and its data adapters count
    them (the progress bar's target): `steps` if given; a dataset's
    cardinality (`None` if unknown or infinite); a `keras.utils.PyDataset`'s
    `num_batches`; `ceil(rows / batch_size)` for arrays (`batch_size`
    defaulting to 32, rows after a `validation_split`); `None` otherwise
    (e.g. a generator). `keras.config.max_steps_per_epoch()` caps it.

    Args:
        x: The data as passed to Keras's `fit`, `evaluate` or `predict`.
        batch_size: Rows per batch of array data.
        steps: `steps_per_epoch` (`fit`) or `steps` (`evaluate`, `predict`).
        validation_split: Fraction of array rows Keras holds out (`fit`).

    Returns:
        A positive integer, or `None` when unknown.
    """
    count = steps if steps else _data_batches(x, batch_size, validation_split)
    limit = keras.config.max_steps_per_epoch()
    if limit and (not count or limit < count):
        count = limit
    return count


def _data_batches(x, batch_size, validation_split):
    if hasattr(x, "element_spec") and hasattr(x, "cardinality"):  # tf.data
        cardinality = x.cardinality
        cardinality = int(cardinality() if callable(cardinality) else cardinality)
        return cardinality if cardinality >= 0 else None
    if isinstance(x, keras.utils.PyDataset):
        try:
            return x.num_batches
        except NotImplementedError:
            return None
    if isinstance(x, (dict, list, tuple)):
        leaves = keras.tree.flatten(x)
        x = leaves[0] if leaves else None
    shape = getattr(x, "shape", None)
    if not shape:
        return None
    rows = int(shape[0])
    if validation_split:
        rows = int(math.floor(rows * (1.0 - validation_split)))
    return int(math.ceil(rows / (batch_size or 32)))
