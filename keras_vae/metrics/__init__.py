"""Streaming Keras metrics: sample quality accumulated batch by batch."""

from keras_vae.metrics.frechet_distance import FrechetDistance
from keras_vae.metrics.kernel_distance import KernelDistance
from keras_vae.metrics.precision_recall import PrecisionRecall

__all__ = ["FrechetDistance", "KernelDistance", "PrecisionRecall"]
