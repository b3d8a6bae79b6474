"""ActiveUnits: active latent units per layer in the epoch logs."""

import keras

from keras_vae.callbacks.epoch_schedule import EpochSchedule
from keras_vae.callbacks.epoch_schedule import log_layers
from keras_vae.diagnostics.active_units import active_units
from keras_vae.utils.validation import check_non_negative_float
from keras_vae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class ActiveUnits(EpochSchedule):
    """Counts the active latent units of every layer at the end of epochs.

    ```none
    A_u = Var_x( E_q[z_u | x] ),   unit u active <=> A_u > threshold
    ```

    (`keras_vae.diagnostics.active_units`). After the first epoch of every
    `fit` call and then every `every` epochs, the count of each latent layer
    is added to the epoch logs as `active_units` (one layer) or
    `active_units_1` ... `active_units_L` (hierarchical models, bottom first,
    in the order of the model's `encode`), so it reaches the `History`,
    `CSVLogger` and TensorBoard callbacks placed after it. Between logged
    epochs the keys are absent (`CSVLogger` writes "NA"; it takes its
    columns from the first epoch, hence that epoch is always logged).

    Args:
        x: The examples to measure on, an array (e.g. the test set). It is
            data, not configuration: `get_config` leaves it out, and a
            callback rebuilt from its config raises at the start of `fit`
            until built again with it: `ActiveUnits(x, **config)`.
        every: Positive integer, log every `every` epochs. Defaults to 1.
        threshold: Activity above which a unit is active. Defaults to 0.01.
        batch_size: Examples per `encode` call. Defaults to 500.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=6, batch_size=100, verbose=0, callbacks=[
    ...     keras_vae.callbacks.ActiveUnits(x_test, every=5),
    ...     keras.callbacks.CSVLogger("history.csv")])
    >>> len(history.history["active_units"])  # epochs 1 and 6
    2

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
        - [Sønderby et al., 2016](https://arxiv.org/abs/1602.02282)
    """

    def __init__(self, x, every=1, threshold=0.01, batch_size=500):
        super().__init__(every, x)
        self.threshold = check_non_negative_float(threshold, "threshold")
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def measure(self, epoch, logs):
        result = active_units(
            self.model, self.x, threshold=self.threshold, batch_size=self.batch_size
        )
        log_layers(logs, result, {"active_units": "num_active"})

    def get_config(self):
        return {
            "every": self.every,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
        }
