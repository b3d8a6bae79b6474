"""IWAELoss: negative importance weighted bound."""

import keras

from keras_vae.losses.bounds import iwae_bound
from keras_vae.losses.log_weights_loss import LogWeightsLoss


@keras.saving.register_keras_serializable(package="keras_vae")
class IWAELoss(LogWeightsLoss):
    """Negative IWAE bound -L_k from k log importance weights per example.

    ```none
    loss(x) = -log (1/k) sum_i w_i
    ```

    Its gradient is the IWAE gradient: the reparameterized gradients of the
    log weights, weighted by their self-normalized importance weights. The
    value is the bound itself, not a surrogate.

    `y_true` is ignored (pass `None`); `y_pred` holds the log weights with
    shape `(k, batch)`, the sample axis first.

    Example:

    >>> loss = keras_vae.losses.IWAELoss()
    >>> float(loss(None, np.log(np.array([[1.0], [3.0]], "float32"))))
    -0.6931472

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """

    def __init__(self, reduction="sum_over_batch_size", name="iwae_loss", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        return -iwae_bound(y_pred, axis=0)
