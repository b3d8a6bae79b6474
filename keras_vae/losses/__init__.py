"""Variational objectives: functional bounds and Keras loss classes."""

from keras_vae.losses.bounds import elbo
from keras_vae.losses.bounds import iwae_bound
from keras_vae.losses.bounds import log_mean_exp
from keras_vae.losses.elbo_loss import ELBOLoss
from keras_vae.losses.gaussian import kl_normal
from keras_vae.losses.gaussian import log_normal
from keras_vae.losses.gradient_estimators import iwae_objective
from keras_vae.losses.iwae_loss import IWAELoss
from keras_vae.losses.total_correlation import minibatch_log_q
from keras_vae.losses.total_correlation import total_correlation

__all__ = [
    "ELBOLoss",
    "IWAELoss",
    "elbo",
    "iwae_bound",
    "iwae_objective",
    "kl_normal",
    "log_mean_exp",
    "log_normal",
    "minibatch_log_q",
    "total_correlation",
]
