"""Ready-made models and the base classes of user models."""

from keras_vae.models.autoencoder import Autoencoder
from keras_vae.models.beta_tc_vae import BetaTCVAE
from keras_vae.models.factor_vae import FactorVAE
from keras_vae.models.gated_mlp import gated_mlp_decoder
from keras_vae.models.gated_mlp import gated_mlp_encoder
from keras_vae.models.hierarchical_networks import gated_conv_hvae_networks
from keras_vae.models.hierarchical_networks import gated_mlp_hvae_networks
from keras_vae.models.hierarchical_vae import HierarchicalVAE
from keras_vae.models.ladder_vae import LadderVAE
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.models.layered_latents import LayeredLatents
from keras_vae.models.pixelcnn import PixelCNN
from keras_vae.models.vae import VAE
from keras_vae.models.vhp_vae import VHPVAE
from keras_vae.models.vq_networks import vq_decoder
from keras_vae.models.vq_networks import vq_encoder
from keras_vae.models.vq_vae import VQVAE

__all__ = [
    "Autoencoder",
    "BetaTCVAE",
    "FactorVAE",
    "HierarchicalVAE",
    "LadderVAE",
    "LatentVariableModel",
    "LayeredLatents",
    "PixelCNN",
    "VAE",
    "VHPVAE",
    "VQVAE",
    "gated_conv_hvae_networks",
    "gated_mlp_decoder",
    "gated_mlp_encoder",
    "gated_mlp_hvae_networks",
    "vq_decoder",
    "vq_encoder",
]
