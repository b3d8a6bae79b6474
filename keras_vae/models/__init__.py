"""Ready-made models."""

from keras_vae.models.gated_mlp import gated_mlp_decoder
from keras_vae.models.gated_mlp import gated_mlp_encoder
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.models.vae import VAE

__all__ = ["LatentVariableModel", "VAE", "gated_mlp_decoder", "gated_mlp_encoder"]
