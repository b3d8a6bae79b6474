"""ELBOLoss: negative Monte Carlo ELBO from log importance weights."""

import keras
from keras import ops

from keras_vae.losses.log_weights_loss import LogWeightsLoss


@keras.saving.register_keras_serializable(package="keras_vae")
class ELBOLoss(LogWeightsLoss):
    """Negative ELBO estimated from k log importance weights per example.

    ```none
    loss(x) = -(1/k) sum_i log w_i,   log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)
    ```

    `y_true` is ignored (pass `None`); `y_pred` holds the log weights with
    shape `(k, batch)`, the sample axis first (as for `iwae_bound`).

    Example:

    >>> loss = keras_vae.losses.ELBOLoss()
    >>> float(loss(None, np.array([[-1.0], [-3.0]], "float32")))
    2.0
    """

    def __init__(self, reduction="sum_over_batch_size", name="elbo_loss", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        return -ops.mean(ops.cast(y_pred, "float32"), axis=0)
