"""Deterministic blocks of the Ladder VAE (Sønderby et al., 2016).

Every block is the paper's MLP(y): two dense layers, each followed by batch
normalization (optional, for the paper's plain "VAE" baseline) and a leaky
ReLU. With batch normalization the dense layers have no bias: its offset
plays that part (a bias before it would get no gradient).
"""

import math

import keras

# Slope of the leaky ReLUs on negative inputs.
NEGATIVE_SLOPE = 0.1


def mlp_block(units, name, batch_norm=True):
    """`[Dense(units), BatchNormalization, LeakyReLU] x 2` as a `Sequential`."""
    layers = []
    for _ in range(2):
        layers.append(keras.layers.Dense(units, use_bias=not batch_norm))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.LeakyReLU(negative_slope=NEGATIVE_SLOPE))
    return keras.Sequential(layers, name=name)


def decoder(data_shape, units, batch_norm=True):
    """z_1 -> MLP block -> `Dense(prod(data_shape))` (likelihood parameters)."""
    block = mlp_block(units, "decoder_block", batch_norm)
    return keras.Sequential(
        block.layers
        + [
            keras.layers.Dense(math.prod(data_shape)),
            keras.layers.Reshape(data_shape),
        ],
        name="decoder",
    )
