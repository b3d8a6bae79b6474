"""Streaming Keras metrics: sample quality accumulated batch by batch."""

from keras_vae.metrics.frechet_distance import FrechetDistance

__all__ = ["FrechetDistance"]
