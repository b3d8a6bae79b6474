"""Base of the Keras losses that read log importance weights."""

import keras
from keras import ops


class LogWeightsLoss(keras.losses.Loss):
    """A Keras loss on log weights `y_pred` of shape `(k, batch)`.

    The sample axis comes first, as everywhere in keras_vae
    (`log_importance_weights`, `iwae_bound`, `elbo`); `call` reduces it and
    returns one value per example, which Keras then reduces over the batch.
    The variational objectives need no target: `y_true` is ignored and may be
    `None` (Keras's `Loss.__call__` wants a tensor, so zeros stand in).
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            y_true = ops.zeros_like(y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)
