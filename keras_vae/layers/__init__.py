"""Layers: building blocks of encoders, decoders and latent variables."""

from keras_vae.layers.gated_conv2d import GatedConv2D
from keras_vae.layers.gated_dense import GatedDense
from keras_vae.layers.gated_pixelcnn_block import GatedPixelCNNBlock
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.layers.gaussian_sample import GaussianSample
from keras_vae.layers.geco import GECO
from keras_vae.layers.precision_weighted_merge import PrecisionWeightedMerge
from keras_vae.layers.vector_quantizer import VectorQuantizer
from keras_vae.layers.vector_quantizer_ema import VectorQuantizerEMA

__all__ = [
    "GatedConv2D",
    "GatedDense",
    "GatedPixelCNNBlock",
    "GaussianParameters",
    "GaussianSample",
    "GECO",
    "PrecisionWeightedMerge",
    "VectorQuantizer",
    "VectorQuantizerEMA",
]
