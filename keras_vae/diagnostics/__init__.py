"""Diagnostics of trained models: likelihood estimates and latent usage."""

from keras_vae.diagnostics.active_units import ActiveUnitsResult
from keras_vae.diagnostics.active_units import active_units
from keras_vae.diagnostics.log_likelihood import LogLikelihoodResult
from keras_vae.diagnostics.log_likelihood import log_likelihood

__all__ = [
    "ActiveUnitsResult",
    "LogLikelihoodResult",
    "active_units",
    "log_likelihood",
]
