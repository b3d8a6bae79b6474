"""The VQ-VAE paper's convolutional encoder and decoder with residual blocks."""

import keras
import numpy as np

from keras_vae.utils.validation import check_positive_int


def _check_non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"Expected `{name}` to be a non-negative integer. Received: {name}={value!r}"
        )
    return value


def _check_sizes(filters, residual_units, num_residual_blocks, num_downsamples):
    # The sizes of `vq_encoder` and `vq_decoder`, checked in this order.
    return (
        check_positive_int(filters, "filters"),
        check_positive_int(residual_units, "residual_units"),
        _check_non_negative_int(num_residual_blocks, "num_residual_blocks"),
        check_positive_int(num_downsamples, "num_downsamples"),
    )


def check_image_shape(data_shape, num_downsamples):
    """Raise unless `data_shape` is `(height, width, channels)` with height and
    width divisible by 2**num_downsamples. Returns the code map's `(h, w)`."""
    data_shape = tuple(data_shape)
    factor = 2**num_downsamples
    if len(data_shape) != 3 or any(d is None for d in data_shape):
        raise ValueError(
            "Expected images of a fully defined shape (batch, height, width, "
            f"channels). Received: data shape {data_shape}"
        )
    height, width, _ = data_shape
    if height % factor or width % factor:
        raise ValueError(
            f"Expected image height and width divisible by 2**num_downsamples="
            f"{factor} (each downsampling halves them). Received: height={height}, "
            f"width={width} with num_downsamples={num_downsamples}; pad or crop the "
            "images, or lower `num_downsamples`"
        )
    return height // factor, width // factor


def _residual_stack(x, filters, residual_units, num_blocks, name):
    """`num_blocks` x [x + conv1x1(relu(conv3x3(relu(x))))], then a ReLU."""
    for i in range(num_blocks):
        h = keras.layers.ReLU(name=f"{name}_res{i}_relu_a")(x)
        h = keras.layers.Conv2D(residual_units, 3, padding="same", name=f"{name}_res{i}_conv3x3")(h)
        h = keras.layers.ReLU(name=f"{name}_res{i}_relu_b")(h)
        h = keras.layers.Conv2D(filters, 1, name=f"{name}_res{i}_conv1x1")(h)
        x = keras.layers.Add(name=f"{name}_res{i}_add")([x, h])
    return keras.layers.ReLU(name=f"{name}_res_out_relu")(x)


def vq_encoder(
    data_shape,
    embedding_dim,
    filters=128,
    residual_units=32,
    num_residual_blocks=2,
    num_downsamples=2,
    name="vq_encoder",
):
    """The VQ-VAE encoder: strided convolutions, residual blocks, 1x1 to codes.

    ```none
    x -> [Conv 4x4 stride 2, ReLU] x num_downsamples -> Conv 3x3
      -> num_residual_blocks x (h + Conv1x1(ReLU(Conv3x3(ReLU(h))))) -> ReLU
      -> Conv 1x1 (embedding_dim)                     = z_e(x), (H/2^n, W/2^n, D)
    ```

    The paper uses two downsamplings and 256 channels; every convolution
    but the residual 3x3 (`residual_units`) has `filters` channels.

    Args:
        data_shape: `(height, width, channels)`, height and width divisible
            by `2**num_downsamples`.
        embedding_dim: Positive integer D, the size of a code vector.
        filters: Channels of the trunk. Defaults to 128.
        residual_units: Channels of the residual 3x3 convolutions.
        num_residual_blocks: Non-negative integer. Defaults to 2.
        num_downsamples: Positive integer n of stride-2 convolutions.
        name: Name of the functional model.

    Returns:
        A functional `keras.Model` from images to z_e.

    Example:

    >>> enc = keras_vae.models.vq_encoder((28, 28, 1), embedding_dim=16)
    >>> enc.output_shape
    (None, 7, 7, 16)

    Reference:
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    filters, residual_units, num_residual_blocks, num_downsamples = _check_sizes(
        filters, residual_units, num_residual_blocks, num_downsamples
    )
    check_image_shape(data_shape, num_downsamples)
    x = inputs = keras.Input(tuple(data_shape), name="x")
    for i in range(num_downsamples):
        x = keras.layers.Conv2D(
            filters, 4, strides=2, padding="same", activation="relu", name=f"down{i}"
        )(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", name="conv3x3")(x)
    x = _residual_stack(x, filters, residual_units, num_residual_blocks, "enc")
    z_e = keras.layers.Conv2D(embedding_dim, 1, name="pre_quantization")(x)
    return keras.Model(inputs, z_e, name=name)


def vq_decoder(
    code_shape,
    embedding_dim,
    output_channels,
    filters=128,
    residual_units=32,
    num_residual_blocks=2,
    num_downsamples=2,
    name="vq_decoder",
):
    """The VQ-VAE decoder, mirroring `vq_encoder`.

    ```none
    z_q -> Conv 3x3 -> num_residual_blocks residual blocks -> ReLU
        -> [ConvTranspose 4x4 stride 2, ReLU] x (n - 1)
        -> ConvTranspose 4x4 stride 2 (output_channels)   (likelihood params)
    ```

    Args:
        code_shape: `(h, w)` of the code map.
        embedding_dim: Positive integer D.
        output_channels: Channels of the output (the likelihood's parameters
            per pixel times the image channels).
        filters: Channels of the trunk. Defaults to 128.
        residual_units: Channels of the residual 3x3 convolutions.
        num_residual_blocks: Non-negative integer. Defaults to 2.
        num_downsamples: Positive integer n of stride-2 upsamplings.
        name: Name of the functional model.

    Returns:
        A functional `keras.Model` from `(h, w, D)` codes to
        `(h 2^n, w 2^n, output_channels)` parameters.

    Example:

    >>> dec = keras_vae.models.vq_decoder((7, 7), 16, output_channels=1)
    >>> dec.output_shape
    (None, 28, 28, 1)

    Reference:
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    output_channels = check_positive_int(output_channels, "output_channels")
    filters, residual_units, num_residual_blocks, num_downsamples = _check_sizes(
        filters, residual_units, num_residual_blocks, num_downsamples
    )
    x = inputs = keras.Input(tuple(code_shape) + (embedding_dim,), name="z_q")
    x = keras.layers.Conv2D(filters, 3, padding="same", name="conv3x3")(x)
    x = _residual_stack(x, filters, residual_units, num_residual_blocks, "dec")
    for i in range(num_downsamples - 1):
        x = keras.layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", activation="relu", name=f"up{i}"
        )(x)
    params = keras.layers.Conv2DTranspose(
        output_channels, 4, strides=2, padding="same", name="params"
    )(x)
    return keras.Model(inputs, params, name=name)


def check_code_map(indices, code_shape, num_embeddings, name="indices"):
    """Check a concrete batch of code maps: integers of shape
    `(batch,) + code_shape` in [0, num_embeddings). Returns an int32 array."""
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"Expected integer code indices. Received: {name} of dtype {indices.dtype}"
        )
    if indices.ndim != 3 or tuple(indices.shape[1:]) != tuple(code_shape):
        raise ValueError(
            f"Expected `{name}` of shape (batch,) + {tuple(code_shape)}. "
            f"Received: {name}.shape={tuple(indices.shape)}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= num_embeddings):
        raise ValueError(
            f"Expected `{name}` in [0, {num_embeddings}) (num_embeddings="
            f"{num_embeddings}). Received: values in [{indices.min()}, {indices.max()}]"
        )
    return indices.astype("int32")
