"""Image datasets for VAEs: TFDS-backed MNIST variants and bundled 8x8 digits.

`load` returns a `tf.data.Dataset` (or a numpy array) of `float32` images in
[0, 1] with static, dynamic or no binarization; `available` lists the names.
"""

from keras_vae.datasets.load import available
from keras_vae.datasets.load import load

__all__ = ["available", "load"]
