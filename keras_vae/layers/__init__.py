"""Layers: building blocks of encoders, decoders and latent variables."""

from keras_vae.layers.gated_dense import GatedDense
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.layers.gaussian_sample import GaussianSample

__all__ = ["GatedDense", "GaussianParameters", "GaussianSample"]
