"""Deterministic blocks of the Ladder VAE (Sønderby et al., 2016).

Every block is the paper's MLP(y): two dense layers, each followed by batch
normalization and a leaky ReLU. The dense layers have no bias: batch
normalization's offset plays its part (a bias before it would get no
gradient).
"""

import math

import keras

# Slope of the leaky ReLUs on negative inputs.
NEGATIVE_SLOPE = 0.1


def mlp_block(units, name):
    """`[Dense(units), BatchNormalization, LeakyReLU] x 2` as a `Sequential`."""
    layers = []
    for _ in range(2):
        layers += [
            keras.layers.Dense(units, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(negative_slope=NEGATIVE_SLOPE),
        ]
    return keras.Sequential(layers, name=name)


def decoder(data_shape, units):
    """z_1 -> MLP block -> `Dense(prod(data_shape))` (likelihood parameters)."""
    block = mlp_block(units, "decoder_block")
    return keras.Sequential(
        block.layers
        + [
            keras.layers.Dense(math.prod(data_shape)),
            keras.layers.Reshape(data_shape),
        ],
        name="decoder",
    )
