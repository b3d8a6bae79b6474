"""ELBOSurgery: mutual information and marginal KL in the epoch logs."""

import keras

from keras_vae.callbacks.epoch_schedule import EpochSchedule
from keras_vae.callbacks.epoch_schedule import log_layers
from keras_vae.diagnostics.elbo_surgery import elbo_surgery
from keras_vae.utils.validation import check_positive_int

KEYS = ("mutual_information", "marginal_kl", "avg_kl")


@keras.saving.register_keras_serializable(package="keras_vae")
class ELBOSurgery(EpochSchedule):
    """Splits the average KL into mutual information and marginal KL.

    ```none
    avg KL = (1/N) sum_n KL(q(z | x_n) || p(z)) = I[i, z] + KL(q̄(z) || p(z))
    q̄(z)  = (1/N) sum_n q(z | x_n)     over the N examples `x`
    ```

    (`keras_vae.diagnostics.elbo_surgery`, Hoffman & Johnson 2016). After
    the first epoch of every `fit` call and then every `every` epochs, adds
    `mutual_information`, `marginal_kl` and `avg_kl` (nats) to the epoch
    logs, or `mutual_information_1` ... for every latent layer of a
    hierarchical model (bottom first; see `elbo_surgery` for what the lower
    layers' numbers mean), so they reach `History`, `CSVLogger` and
    TensorBoard. Nothing is computed on the other epochs. The cost is one
    encoder pass over `x` and an N x N log-sum-exp (seconds for N = 10,000).

    The samples are drawn from `seed`, the same at every measured epoch, so
    the curves show the model's change, not fresh Monte Carlo noise.

    Args:
        x: The N examples, an array (the training set or a subset of it:
            q̄ is the aggregate posterior of exactly these). It is data, not
            configuration: `get_config` leaves it out, and a callback
            rebuilt from its config raises at the start of `fit` until built
            again with it: `ELBOSurgery(x, **config)`.
        every: Positive integer, log every `every` epochs. Defaults to 1.
        num_samples: Positive integer, samples of z per example. Defaults
            to 1.
        batch_size: Examples per encoder call. Defaults to 500.
        seed: Integer seed of the samples. Defaults to 0.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0, callbacks=[
    ...     keras_vae.callbacks.ELBOSurgery(x_train[:1000], every=5)])
    >>> [len(history.history[key]) for key in ("mutual_information", "marginal_kl")]
    [1, 1]

    Reference:
        - [Hoffman & Johnson, 2016](
          http://approximateinference.org/2016/accepted/HoffmanJohnson2016.pdf)
    """

    def __init__(self, x, every=1, num_samples=1, batch_size=500, seed=0):
        super().__init__(every, x)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"Expected `seed` to be an integer. Received: seed={seed!r}")
        self.seed = seed

    def measure(self, epoch, logs):
        result = elbo_surgery(
            self.model,
            self.x,
            num_samples=self.num_samples,
            batch_size=self.batch_size,
            seed=self.seed,
        )
        log_layers(logs, result, {key: key for key in KEYS})

    def get_config(self):
        return {
            "every": self.every,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }
