"""Networks of the two-level hierarchical VAE of the VampPrior paper.

The model is

```none
q(z2 | x) q(z1 | x, z2)        (inference)
p(z2) p(z1 | z2) p(x | z1, z2) (generation)
```

Each builder returns the five trunks of that model as functional Keras
models; the model adds the Gaussian heads of q(z2|x), q(z1|x,z2), p(z1|z2)
and the likelihood on top of them.
"""

import math

import keras

from keras_vae.layers.gated_conv2d import GatedConv2D
from keras_vae.layers.gated_dense import GatedDense
from keras_vae.utils.validation import check_shape
from keras_vae.utils.validation import check_widths


def _check_sizes(latent_dims, hidden_units):
    """`(z1_dim, z2_dim, u)` from `latent_dims` (bottom first) and one width."""
    latent_dims = check_shape(latent_dims, "latent_dims")
    if len(latent_dims) != 2:
        raise ValueError(
            "Expected `latent_dims` of two sizes (z1_dim, z2_dim), bottom "
            f"first. Received: latent_dims={latent_dims!r}"
        )
    return latent_dims + (check_single_width(hidden_units),)


def check_single_width(hidden_units):
    """The one width `u` of `hidden_units` (an int or a tuple `(u,)`): every
    hidden layer of the two-level VAE's networks has the same width."""
    widths = check_widths(hidden_units, "hidden_units")
    if len(widths) != 1:
        raise ValueError(
            "Expected `hidden_units` to be one width `(u,)` (or an int): every "
            "hidden layer of the two-level VAE's networks has the same width. "
            f"Received: hidden_units={hidden_units!r}"
        )
    return widths[0]


def _joint_encoder_z1(x_features, z2_dim, z2_units, hidden_units):
    """[h_x, z2] -> GatedDense on z2, concatenate, GatedDense."""
    h_x = keras.Input((x_features,), name="h_x")
    z2 = keras.Input((z2_dim,), name="z2")
    h = keras.layers.Concatenate()([h_x, GatedDense(z2_units)(z2)])
    return keras.Model([h_x, z2], GatedDense(hidden_units)(h), name="encoder_z1_joint")


def _prior_z1(z2_dim, hidden_units):
    z2 = keras.Input((z2_dim,), name="z2")
    h = GatedDense(hidden_units)(GatedDense(hidden_units)(z2))
    return keras.Model(z2, h, name="prior_z1")


def _decoder_inputs(z1_dim, z2_dim, hidden_units):
    """z1 and z2 inputs, each through a GatedDense, concatenated."""
    z1 = keras.Input((z1_dim,), name="z1")
    z2 = keras.Input((z2_dim,), name="z2")
    h = keras.layers.Concatenate()([GatedDense(hidden_units)(z1), GatedDense(hidden_units)(z2)])
    return [z1, z2], h


def gated_mlp_hvae_networks(data_shape, latent_dims=(40, 40), hidden_units=(300,)):
    """Gated MLP networks of the two-level VAE (`HVAE_2level` of the paper).

    With `u = hidden_units`:

    - `"encoder_z2"`: x -> `Flatten`, `GatedDense(u)`, `GatedDense(u)`.
    - `"encoder_z1_x"`: x -> `Flatten`, `GatedDense(u)`.
    - `"encoder_z1_joint"`: `[h_x, z2]` -> `GatedDense(u)` on z2,
      concatenate with h_x, `GatedDense(u)`.
    - `"prior_z1"`: z2 -> `GatedDense(u)`, `GatedDense(u)`.
    - `"decoder"`: `[z1, z2]` -> `GatedDense(u)` on each, concatenate,
      `GatedDense(u)`, `Dense(prod(data_shape))` (He-normal), `Reshape`.

    The decoder outputs likelihood parameters of the data's shape (logits
    for a Bernoulli: the paper's sigmoid belongs to the likelihood).

    Args:
        data_shape: Shape of one example, such as `(28, 28, 1)`.
        latent_dims: Sizes `(z1_dim, z2_dim)` of the latents, bottom first.
        hidden_units: Width `(u,)` (or an int) of every hidden layer (300
            in the paper).

    Returns:
        A dict of functional `keras.Model`s named after their keys:
        `"encoder_z2"`, `"encoder_z1_x"`, `"encoder_z1_joint"`, `"prior_z1"`
        and `"decoder"`.

    Example:

    >>> nets = keras_vae.models.gated_mlp_hvae_networks((28, 28, 1))
    >>> nets["decoder"]([np.zeros((2, 40)), np.zeros((2, 40))]).shape
    TensorShape([2, 28, 28, 1])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
    """
    data_shape = check_shape(data_shape, "data_shape")
    z1_dim, z2_dim, u = _check_sizes(latent_dims, hidden_units)

    x = keras.Input(data_shape, name="x")
    h = GatedDense(u)(GatedDense(u)(keras.layers.Flatten()(x)))
    encoder_z2 = keras.Model(x, h, name="encoder_z2")

    x = keras.Input(data_shape, name="x")
    h = GatedDense(u)(keras.layers.Flatten()(x))
    encoder_z1_x = keras.Model(x, h, name="encoder_z1_x")

    inputs, h = _decoder_inputs(z1_dim, z2_dim, u)
    h = GatedDense(u)(h)
    h = keras.layers.Dense(math.prod(data_shape), kernel_initializer="he_normal")(h)
    decoder = keras.Model(inputs, keras.layers.Reshape(data_shape)(h), name="decoder")

    return {
        "encoder_z2": encoder_z2,
        "encoder_z1_x": encoder_z1_x,
        "encoder_z1_joint": _joint_encoder_z1(u, z2_dim, u, u),
        "prior_z1": _prior_z1(z2_dim, u),
        "decoder": decoder,
    }


def gated_conv_hvae_networks(data_shape, latent_dims=(40, 40), hidden_units=(300,)):
    """Gated convolutional networks of the two-level VAE (`convHVAE_2level`).

    For images of shape `(H, W, C)`, with `u = hidden_units`, every
    convolution with `"same"` padding and `GatedConv2D(filters, kernel,
    stride)`:

    - `"encoder_z2"`: x -> `GatedConv2D(32, 7, 1)`, `GatedConv2D(32, 3, 2)`,
      `GatedConv2D(64, 5, 1)`, `GatedConv2D(64, 3, 2)`,
      `GatedConv2D(6, 3, 1)`, `Flatten` (294 features for 28x28 images).
    - `"encoder_z1_x"`: x -> `GatedConv2D(32, 3, 1)`, `GatedConv2D(32, 3, 2)`,
      `GatedConv2D(64, 3, 1)`, `GatedConv2D(64, 3, 2)`,
      `GatedConv2D(6, 3, 1)`, `Flatten` (Fx features).
    - `"encoder_z1_joint"`: `[h_x, z2]` -> `GatedDense(Fx)` on z2,
      concatenate with h_x, `GatedDense(u)`.
    - `"prior_z1"`: z2 -> `GatedDense(u)`, `GatedDense(u)`.
    - `"decoder"`: `[z1, z2]` -> `GatedDense(u)` on each, concatenate,
      `GatedDense(H * W * C)`, `Reshape((H, W, C))`, four
      `GatedConv2D(64, 3, 1)`, `Conv2D(C, 1)` (linear: logits for a
      Bernoulli).

    Args:
        data_shape: Image shape `(height, width, channels)`.
        latent_dims: Sizes `(z1_dim, z2_dim)` of the latents, bottom first.
        hidden_units: Width `(u,)` (or an int) of the dense hidden layers
            (300 in the paper).

    Returns:
        The dict of five functional `keras.Model`s of `gated_mlp_hvae_networks`.

    Example:

    >>> nets = keras_vae.models.gated_conv_hvae_networks((28, 28, 1))
    >>> nets["encoder_z2"](np.zeros((2, 28, 28, 1))).shape
    TensorShape([2, 294])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
    """
    data_shape = check_shape(data_shape, "data_shape")
    if len(data_shape) != 3:
        raise ValueError(
            "Expected `data_shape` to be an image shape (height, width, "
            f"channels). Received: data_shape={data_shape!r}"
        )
    z1_dim, z2_dim, u = _check_sizes(latent_dims, hidden_units)

    def conv_trunk(name, layers):
        x = keras.Input(data_shape, name="x")
        h = x
        for filters, kernel, stride in layers:
            h = GatedConv2D(filters, kernel, strides=stride)(h)
        return keras.Model(x, keras.layers.Flatten()(h), name=name)

    encoder_z2 = conv_trunk(
        "encoder_z2", [(32, 7, 1), (32, 3, 2), (64, 5, 1), (64, 3, 2), (6, 3, 1)]
    )
    encoder_z1_x = conv_trunk(
        "encoder_z1_x", [(32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2), (6, 3, 1)]
    )
    x_features = encoder_z1_x.output.shape[-1]

    inputs, h = _decoder_inputs(z1_dim, z2_dim, u)
    h = keras.layers.Reshape(data_shape)(GatedDense(math.prod(data_shape))(h))
    for _ in range(4):
        h = GatedConv2D(64, 3)(h)
    h = keras.layers.Conv2D(data_shape[-1], 1)(h)
    decoder = keras.Model(inputs, h, name="decoder")

    return {
        "encoder_z2": encoder_z2,
        "encoder_z1_x": encoder_z1_x,
        "encoder_z1_joint": _joint_encoder_z1(x_features, z2_dim, x_features, u),
        "prior_z1": _prior_z1(z2_dim, u),
        "decoder": decoder,
    }
