"""Training callbacks: schedules that survive save/resume, guards, diagnostics."""

from keras_vae.callbacks.active_units import ActiveUnits
from keras_vae.callbacks.elbo_surgery import ELBOSurgery
from keras_vae.callbacks.image_grid import ImageGrid
from keras_vae.callbacks.kl_warm_up import KLWarmUp
from keras_vae.callbacks.log_likelihood import LogLikelihood
from keras_vae.callbacks.raise_on_non_finite import NonFiniteLossError
from keras_vae.callbacks.raise_on_non_finite import RaiseOnNonFinite
from keras_vae.callbacks.seed_dataset_epochs import SeedDatasetEpochs

__all__ = [
    "ActiveUnits",
    "ELBOSurgery",
    "ImageGrid",
    "KLWarmUp",
    "LogLikelihood",
    "NonFiniteLossError",
    "RaiseOnNonFinite",
    "SeedDatasetEpochs",
]
