"""Diagnostics of trained models: likelihood estimates and latent usage."""

from keras_vae.diagnostics.active_units import ActiveUnitsResult
from keras_vae.diagnostics.active_units import active_units
from keras_vae.diagnostics.codebook_usage import CodebookUsageResult
from keras_vae.diagnostics.codebook_usage import codebook_usage
from keras_vae.diagnostics.log_likelihood import LogLikelihoodResult
from keras_vae.diagnostics.log_likelihood import log_likelihood

__all__ = [
    "ActiveUnitsResult",
    "CodebookUsageResult",
    "LogLikelihoodResult",
    "active_units",
    "codebook_usage",
    "log_likelihood",
]
