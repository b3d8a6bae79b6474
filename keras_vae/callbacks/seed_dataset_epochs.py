"""SeedDatasetEpochs: each epoch of a `datasets.load` stream keyed to the training state."""

import keras

from keras_vae.datasets import pass_keys as pass_keys_lib


@keras.saving.register_keras_serializable(package="keras_vae")
class SeedDatasetEpochs(keras.callbacks.Callback):
    """Keys every epoch of a `keras_vae.datasets.load` stream to the model's step.

    A `load` stream draws the shuffling order and the dynamic binarization
    noise of each pass from a stateless key (see `keras_vae.datasets.load`).
    At the start of every epoch this callback sets that key to

    ```none
    (seed, s, 0),   s = model.optimizer.iterations (the steps taken so far)
    ```

    so the epoch's data are a function of the `load` seed and the training
    state alone: `keras.callbacks.BackupAndRestore` restores the optimizer's
    step count with the weights, and a resumed `fit` sees the epochs the
    interrupted one would have seen, bit for bit. Successive `fit` calls
    (which restart Keras's epoch index at 0 but not the step count) get new
    orders and noise. With no optimizer step counter, the epoch index stands
    in for `s`.

    A `load` stream given to `fit` as `validation_data`, passed here as
    `validation_data`, is keyed before every validation run
    (`on_test_begin`) to

    ```none
    (seed, -2, 0)
    ```

    the same pass at every epoch: a fixed validation set (order and noise a
    function of its `load` seed only), whose metrics compare the epochs'
    models on the same data and which a resumed `fit` sees as the
    uninterrupted one did.

    A keras_vae model's `fit` adds this callback by itself when `x` or
    `validation_data` is a `load` stream. Add it yourself for any other
    model, passing the datasets `load` returned, also when `fit` gets
    datasets made from them:

    ```python
    train = keras_vae.datasets.load("mnist", "train", batch_size=100)
    valid = keras_vae.datasets.load("mnist", "validation", batch_size=100,
                                    binarization="dynamic")
    model.fit(
        train.map(lambda x: (x, x)),
        validation_data=valid.map(lambda x: (x, x)),
        epochs=10,
        callbacks=[
            keras_vae.callbacks.SeedDatasetEpochs(train, validation_data=valid),
            keras.callbacks.BackupAndRestore("backup"),
        ],
    )
    ```

    It relies on Keras creating each epoch's iterator after
    `on_epoch_begin` (a new iterator per epoch, the default without
    `steps_per_epoch`). With `steps_per_epoch` and a repeated stream, passes
    straddle epochs: every pass still gets its own key, but a resumed run's
    passes are not those of the uninterrupted one.

    The datasets are data, not configuration: `get_config` is empty and
    `from_config` rebuilds the callback without them (`fit` then raises until
    it is built again with a dataset).

    Args:
        dataset: the `tf.data.Dataset` returned by `keras_vae.datasets.load`
            that `fit` trains on, or `None` (with `validation_data`). A stream
            without randomness (no shuffling, no dynamic binarization) is
            accepted and left alone.
        validation_data: the `load` stream `fit` validates on, or `None`.

    Example:

    >>> train = keras_vae.datasets.load("digits", "train", batch_size=256, flatten=True)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(train.map(lambda x: (x, x)), epochs=2, verbose=0,
    ...                     callbacks=[keras_vae.callbacks.SeedDatasetEpochs(train)])
    >>> int(model.optimizer.iterations)  # the epochs were keyed 0 and 6
    12
    """

    data_arguments = ("dataset", "validation_data")

    def __init__(self, dataset=None, validation_data=None):
        super().__init__()
        self._keys = None if dataset is None else pass_keys_lib.pass_keys_of(dataset)
        self._validation_keys = (
            None if validation_data is None else pass_keys_lib.pass_keys_of(validation_data)
        )
        self.dataset = dataset
        self.validation_data = validation_data

    def on_train_begin(self, logs=None):
        if self.dataset is None and self.validation_data is None:
            raise ValueError(
                "Expected `dataset`, the stream returned by "
                "`keras_vae.datasets.load` whose epochs SeedDatasetEpochs keys "
                "(or `validation_data`). Received: dataset=None. A callback's "
                "config holds no data: rebuild a callback restored from its "
                "config with `SeedDatasetEpochs(dataset)`."
            )

    def on_epoch_begin(self, epoch, logs=None):
        if self._keys is None:
            return
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        step = epoch if iterations is None else int(keras.ops.convert_to_numpy(iterations))
        self._keys.start_epoch(step)

    def on_test_begin(self, logs=None):
        # Keras creates the validation run's iterator after this call.
        if self._validation_keys is not None:
            self._validation_keys.start_validation()

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        # No data in the config: `from_config({"dataset": ds})` gives it.
        return cls(**{"dataset": None, "validation_data": None, **config})
