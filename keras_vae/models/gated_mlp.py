"""The gated MLP encoder and decoder trunks of the VampPrior paper."""

import math

import keras

from keras_vae.layers.gated_dense import GatedDense


def gated_mlp_encoder(hidden_units=(300, 300), name="encoder"):
    """Encoder trunk x -> h: `Flatten` then one `GatedDense` per entry.

    With the default `(300, 300)` and a `GaussianParameters(40)` head this is
    the 784-300-300-40 encoder of Tomczak & Welling (2018).

    Example:

    >>> trunk = keras_vae.models.gated_mlp_encoder((300, 300))
    >>> trunk(np.zeros((2, 28, 28, 1), "float32")).shape
    TensorShape([2, 300])
    """
    layers = [keras.layers.Flatten()]
    layers += [GatedDense(u) for u in hidden_units]
    return keras.Sequential(layers, name=name)


def gated_mlp_decoder(output_shape, hidden_units=(300, 300), name="decoder"):
    """Decoder z -> likelihood parameters with the data's shape.

    `GatedDense` layers, then a linear layer to `prod(output_shape)` units
    (logits for a Bernoulli likelihood) reshaped to `output_shape`.

    Example:

    >>> dec = keras_vae.models.gated_mlp_decoder((28, 28, 1))
    >>> dec(np.zeros((2, 40), "float32")).shape
    TensorShape([2, 28, 28, 1])
    """
    output_shape = tuple(output_shape)
    layers = [GatedDense(u) for u in hidden_units]
    layers += [
        keras.layers.Dense(math.prod(output_shape), kernel_initializer="he_normal"),
        keras.layers.Reshape(output_shape),
    ]
    return keras.Sequential(layers, name=name)
