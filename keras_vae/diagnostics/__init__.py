"""Diagnostics of trained models: likelihood estimates, latent usage, ELBO surgery."""

from keras_vae.diagnostics.active_units import ActiveUnitsResult
from keras_vae.diagnostics.active_units import active_units
from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.diagnostics.codebook_usage import CodebookUsageResult
from keras_vae.diagnostics.codebook_usage import codebook_usage
from keras_vae.diagnostics.elbo_surgery import ELBOSurgeryResult
from keras_vae.diagnostics.elbo_surgery import elbo_surgery
from keras_vae.diagnostics.log_likelihood import LogLikelihoodResult
from keras_vae.diagnostics.log_likelihood import log_likelihood

__all__ = [
    "ActiveUnitsResult",
    "CodebookUsageResult",
    "ELBOSurgeryResult",
    "LogLikelihoodResult",
    "active_units",
    "codebook_usage",
    "elbo_surgery",
    "example_rank",
    "host_batches",
    "log_likelihood",
]
