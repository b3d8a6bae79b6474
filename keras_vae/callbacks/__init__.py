"""Training callbacks: schedules that survive save/resume, guards."""

from keras_vae.callbacks.active_units import ActiveUnits
from keras_vae.callbacks.kl_warm_up import KLWarmUp
from keras_vae.callbacks.terminate_on_nan import NonFiniteLossError
from keras_vae.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["ActiveUnits", "KLWarmUp", "NonFiniteLossError", "TerminateOnNaN"]
