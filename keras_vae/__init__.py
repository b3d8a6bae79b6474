"""keras_vae: variational autoencoders for Keras 3 (TensorFlow and JAX backends)."""

from keras_vae.utils.backend import check_backend

check_backend()

from keras_vae import callbacks  # noqa: E402
from keras_vae import datasets  # noqa: E402
from keras_vae import diagnostics  # noqa: E402
from keras_vae import export  # noqa: E402
from keras_vae import layers  # noqa: E402
from keras_vae import likelihoods  # noqa: E402
from keras_vae import losses  # noqa: E402
from keras_vae import metrics  # noqa: E402
from keras_vae import models  # noqa: E402
from keras_vae import priors  # noqa: E402
from keras_vae import trainers  # noqa: E402
from keras_vae.version import __version__  # noqa: E402

__all__ = [
    "__version__",
    "callbacks",
    "datasets",
    "diagnostics",
    "export",
    "layers",
    "likelihoods",
    "losses",
    "metrics",
    "models",
    "priors",
    "trainers",
]
