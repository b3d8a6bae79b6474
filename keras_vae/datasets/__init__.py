"""Image datasets for VAEs: TFDS-backed MNIST variants and bundled 8x8 digits.

`load` returns a `tf.data.Dataset` (or a numpy array) of `float32` images in
[0, 1] with static, dynamic or no binarization, with their class labels on
request (`labels=True`); `available` lists the names. TensorFlow is imported
only for streams and TFDS.
"""

from keras_vae.datasets.load import available
from keras_vae.datasets.load import load
from keras_vae.datasets.shapes import SHAPES_FACTORS
from keras_vae.datasets.shapes import shapes

__all__ = ["SHAPES_FACTORS", "available", "load", "shapes"]
