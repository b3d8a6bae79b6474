"""Priors p(z)."""

import keras

from keras_vae.priors.hierarchical_prior import HierarchicalPrior
from keras_vae.priors.mixture_of_gaussians import MixtureOfGaussians
from keras_vae.priors.prior import Prior
from keras_vae.priors.standard_normal import StandardNormal
from keras_vae.priors.vamp_prior import VampPrior


def get(identifier):
    """Return a prior from `None` (standard normal), a config or an instance."""
    if identifier is None or identifier == "standard_normal":
        return StandardNormal()
    if isinstance(identifier, Prior):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Expected `prior` to be None, 'standard_normal' or a "
        f"`keras_vae.priors.Prior`. Received: prior={identifier!r}"
    )


__all__ = ["HierarchicalPrior", "MixtureOfGaussians", "Prior", "StandardNormal", "VampPrior", "get"]
