"""LogLikelihood: an importance-sampled log-likelihood in the epoch logs."""

import keras

from keras_vae.callbacks.epoch_schedule import EpochSchedule
from keras_vae.diagnostics.log_likelihood import log_likelihood
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class LogLikelihood(EpochSchedule):
    """Estimates the mean log p(x) of held-out examples at the end of epochs.

    ```none
    log p(x) ~= log (1/S) sum_s p(x, z_s) / q(z_s | x),   z_s ~ q(z | x)
    logs[name]              = (1/N) sum_n log p(x_n)      (nats; = -NLL)
    logs[bits_per_dim_name] = -logs[name] / (D ln 2)      (bits/dim, D = data dimensions)
    ```

    (`keras_vae.diagnostics.log_likelihood`, the IWAE bound with S samples:
    a lower bound that rises to log p(x) as S grows). After the first epoch
    of every `fit` call and then every `every` epochs, the mean over the
    first `max_examples` examples of `x` is added to the epoch logs as
    `name`, so it reaches `History`, `CSVLogger` and TensorBoard (the
    default `val_log_likelihood` lands in TensorBoard's validation run),
    with the same estimate in bits per dimension as `bits_per_dim_name`
    (`keras_vae.diagnostics.LogLikelihoodResult.bits_per_dim`). Nothing is
    computed on the other epochs.

    Args:
        x: Held-out examples, an array (e.g. the validation set). It is
            data, not configuration: `get_config` leaves it out, and a
            callback rebuilt from its config raises at the start of `fit`
            until built again with it: `LogLikelihood(x, **config)`.
        every: Positive integer, log every `every` epochs. Defaults to 1.
        num_importance_samples: Positive integer S, importance samples per example.
            Defaults to 1000.
        max_examples: Optional positive integer, score only the first
            `max_examples` examples of `x`. Defaults to 1000.
        batch_size: Examples per `model.log_likelihood` call. Defaults to
            100.
        name: The log key. Defaults to `"val_log_likelihood"`; rename it if
            `x` is not held-out data.
        bits_per_dim_name: The log key of the bits/dim, or `None` to log
            only `name`. Defaults to `"val_bits_per_dim"`.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0, callbacks=[
    ...     keras_vae.callbacks.LogLikelihood(
    ...         x_val, every=10, num_importance_samples=100)])
    >>> len(history.history["val_log_likelihood"])  # epoch 1 only
    1
    >>> len(history.history["val_bits_per_dim"])
    1

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """

    def __init__(
        self,
        x,
        every=1,
        num_importance_samples=1000,
        max_examples=1000,
        batch_size=100,
        name="val_log_likelihood",
        bits_per_dim_name="val_bits_per_dim",
    ):
        super().__init__(every, x)
        self.num_importance_samples = check_positive_int(
            num_importance_samples, "num_importance_samples"
        )
        self.max_examples = check_optional_positive_int(max_examples, "max_examples")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Expected `name` to be a non-empty string. Received: name={name!r}")
        self.name = name
        if bits_per_dim_name is not None and (
            not isinstance(bits_per_dim_name, str) or not bits_per_dim_name
        ):
            raise ValueError(
                "Expected `bits_per_dim_name` to be a non-empty string or None. "
                f"Received: bits_per_dim_name={bits_per_dim_name!r}"
            )
        self.bits_per_dim_name = bits_per_dim_name

    def measure(self, epoch, logs):
        result = log_likelihood(
            self.model,
            self.x,
            num_importance_samples=self.num_importance_samples,
            batch_size=self.batch_size,
            max_examples=self.max_examples,
        )
        logs[self.name] = -result.nll
        if self.bits_per_dim_name is not None:
            logs[self.bits_per_dim_name] = result.bits_per_dim

    def get_config(self):
        return {
            "every": self.every,
            "num_importance_samples": self.num_importance_samples,
            "max_examples": self.max_examples,
            "batch_size": self.batch_size,
            "name": self.name,
            "bits_per_dim_name": self.bits_per_dim_name,
        }
