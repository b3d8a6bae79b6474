"""Observation models p(x | z)."""

import keras

from keras_vae.likelihoods.bernoulli import Bernoulli
from keras_vae.likelihoods.discretized_logistic import DiscretizedLogistic
from keras_vae.likelihoods.gaussian import Gaussian
from keras_vae.likelihoods.likelihood import Likelihood
from keras_vae.likelihoods.likelihood import is_binary
from keras_vae.likelihoods.likelihood import support_of
from keras_vae.likelihoods.tabular import Tabular

_ALIASES = {
    "bernoulli": Bernoulli,
    "discretized_logistic": DiscretizedLogistic,
    "gaussian": Gaussian,
}


def get(identifier):
    """Return a likelihood layer from a name, a config or an instance.

    The likelihood's `support` and `binary` declarations are checked here
    (see `Likelihood`), so a model fails at construction on a bad one.
    """
    likelihood = None
    if isinstance(identifier, Likelihood):
        likelihood = identifier
    elif isinstance(identifier, str) and identifier.lower() in _ALIASES:
        likelihood = _ALIASES[identifier.lower()]()
    elif isinstance(identifier, dict):
        likelihood = keras.saving.deserialize_keras_object(identifier)
    if likelihood is not None:
        support_of(likelihood)
        is_binary(likelihood)
        return likelihood
    raise ValueError(
        "Expected `likelihood` to be one of "
        f"{sorted(_ALIASES)} or a `keras_vae.likelihoods.Likelihood`. "
        f"Received: likelihood={identifier!r}"
    )


__all__ = ["Bernoulli", "DiscretizedLogistic", "Gaussian", "Likelihood", "Tabular", "get"]
