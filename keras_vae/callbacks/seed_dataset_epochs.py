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

    A keras_vae model's `fit` adds this callback by itself when `x` is a
    `load` stream. Add it yourself for any other model, passing the dataset
    `load` returned, also when `fit` gets a dataset made from it:

    ```python
    train = keras_vae.datasets.load("mnist", "train", batch_size=100)
    model.fit(
        train.map(lambda x: (x, x)),
        epochs=10,
        callbacks=[
            keras_vae.callbacks.SeedDatasetEpochs(train),
            keras.callbacks.BackupAndRestore("backup"),
        ],
    )
    ```

    It relies on Keras creating each epoch's iterator after
    `on_epoch_begin` (a new iterator per epoch, the default without
    `steps_per_epoch`). With `steps_per_epoch` and a repeated stream, passes
    straddle epochs: every pass still gets its own key, but a resumed run's
    passes are not those of the uninterrupted one.

    The dataset is data, not configuration: `get_config` is empty and
    `from_config` rebuilds the callback without it (`fit` then raises until
    it is built again with the dataset).

    Args:
        dataset: the `tf.data.Dataset` returned by `keras_vae.datasets.load`.
            A stream without randomness (no shuffling, no dynamic
            binarization) is accepted and left alone.

    Example:

    >>> train = keras_vae.datasets.load("digits", "train", batch_size=256, flatten=True)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(train.map(lambda x: (x, x)), epochs=2, verbose=0,
    ...                     callbacks=[keras_vae.callbacks.SeedDatasetEpochs(train)])
    >>> int(model.optimizer.iterations)  # the epochs were keyed 0 and 6
    12
    """

    data_arguments = ("dataset",)

    def __init__(self, dataset=None):
        super().__init__()
        self._keys = None if dataset is None else pass_keys_lib.pass_keys_of(dataset)
        self.dataset = dataset

    def on_train_begin(self, logs=None):
        if self.dataset is None:
            raise ValueError(
                "Expected `dataset`, the stream returned by "
                "`keras_vae.datasets.load` whose epochs SeedDatasetEpochs keys. "
                "Received: dataset=None. A callback's config holds no data: "
                "rebuild a callback restored from its config with "
                "`SeedDatasetEpochs(dataset)`."
            )

    def on_epoch_begin(self, epoch, logs=None):
        if self._keys is None:
            return
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        step = epoch if iterations is None else int(keras.ops.convert_to_numpy(iterations))
        self._keys.start_epoch(step)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        # No dataset in the config: `from_config({"dataset": ds})` gives one.
        return cls(**{"dataset": None, **config})
