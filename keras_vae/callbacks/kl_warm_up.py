"""KLWarmUp: a linear ramp of the KL weight beta."""

import keras

from keras_vae.utils.validation import check_positive_int


def check_has_beta(model, schedule):
    """Raise unless `model` has a KL weight `beta` to schedule.

    A `keras_vae.models.LatentVariableModel` has one; an `Autoencoder`
    without a KL term (`VQVAE`) does not.
    """
    if not isinstance(getattr(model, "beta", None), keras.Variable):
        raise ValueError(
            f"{schedule} needs a model with a `beta` variable, the KL weight of "
            "a `keras_vae.models.LatentVariableModel`. Received: model of type "
            f"{type(model).__name__}, which has none (a VQVAE has no KL term "
            "to weight)"
        )


@keras.saving.register_keras_serializable(package="keras_vae")
class KLWarmUp(keras.callbacks.Callback):
    """Ramps the model's KL weight `beta` linearly from 0 to `max_value`.

    ```none
    beta(epoch) = max_value * min(1, (epoch - start_epoch) / epochs)   (>= 0)
    ```

    beta is set at the start of every epoch from the epoch index alone, so
    the schedule resumes exactly after `BackupAndRestore` or a `fit` with
    `initial_epoch`; the current value is also a model weight, saved with the
    model. The VampPrior paper warms up over 100 epochs, the Ladder VAE paper
    over 200.

    With early stopping or best-model checkpoints, monitor the bound
    (`val_elbo`, or `val_iwae_bound`) with `mode="max"`: `val_loss` is the
    beta-weighted objective and favours the epochs with the smallest beta.
    `EarlyStopping(restore_best_weights=True)` restores the best epoch's
    weights but not its beta: a keras_vae model's `fit` leaves `beta` at the
    last epoch's value of the schedule.

    Args:
        epochs: Positive integer, length of the ramp in epochs.
        max_value: Final value of beta. Defaults to `1.0`.
        start_epoch: Epoch at which the ramp starts (beta is 0 before).

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=4, batch_size=100, verbose=0,
    ...                   callbacks=[keras_vae.callbacks.KLWarmUp(2)])
    >>> history.history["beta"]  # beta of each epoch
    [0.0, 0.5, 1.0, 1.0]
    >>> history = vae.fit(x_train, epochs=4, batch_size=100, verbose=0,
    ...                   validation_data=(x_val,), callbacks=[
    ...     keras_vae.callbacks.KLWarmUp(2),
    ...     keras.callbacks.EarlyStopping(
    ...         monitor="val_elbo", mode="max", patience=2, restore_best_weights=True)])

    Reference:
        - [Sønderby et al., 2016](https://arxiv.org/abs/1602.02282)
        - [Bowman et al., 2016](https://arxiv.org/abs/1511.06349)
    """

    def __init__(self, epochs, max_value=1.0, start_epoch=0):
        super().__init__()
        self.epochs = check_positive_int(epochs, "epochs")
        if not max_value >= 0:
            raise ValueError(f"Expected `max_value` >= 0. Received: max_value={max_value!r}")
        self.max_value = float(max_value)
        self.start_epoch = int(start_epoch)

    def value(self, epoch):
        """beta at the start of `epoch` (0-based)."""
        progress = (epoch - self.start_epoch) / self.epochs
        return self.max_value * min(1.0, max(0.0, progress))

    def on_train_begin(self, logs=None):
        check_has_beta(self.model, type(self).__name__)

    def on_epoch_begin(self, epoch, logs=None):
        check_has_beta(self.model, type(self).__name__)
        self.model.beta.assign(self.value(epoch))

    def get_config(self):
        return {
            "epochs": self.epochs,
            "max_value": self.max_value,
            "start_epoch": self.start_epoch,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
