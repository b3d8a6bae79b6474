"""Observation models p(x | z)."""

import keras

from keras_vae.likelihoods.bernoulli import Bernoulli
from keras_vae.likelihoods.discretized_logistic import DiscretizedLogistic
from keras_vae.likelihoods.gaussian import Gaussian
from keras_vae.likelihoods.likelihood import Likelihood

_ALIASES = {
    "bernoulli": Bernoulli,
    "discretized_logistic": DiscretizedLogistic,
    "gaussian": Gaussian,
}


def get(identifier):
    """Return a likelihood layer from a name, a config or an instance."""
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Expected `likelihood` to be one of "
        f"{sorted(_ALIASES)} or a `keras_vae.likelihoods.Likelihood`. "
        f"Received: likelihood={identifier!r}"
    )


__all__ = ["Bernoulli", "DiscretizedLogistic", "Gaussian", "Likelihood", "get"]
