"""A small MNIST classifier whose penultimate layer is a feature space for sample quality."""

import os

import keras

FEATURE_DIM = 64
"""Width of the feature layer of `mnist_feature_extractor`."""

NUM_CLASSES = 10

WEIGHTS_FILE = os.path.join(os.path.dirname(__file__), "assets", "mnist_features.weights.h5")
"""The shipped weights, trained by `benchmarks/train_mnist_features.py`."""


def feature_network():
    """The untrained two-output network `(features, logits)` whose weights ship.

    `mnist_feature_extractor` loads the weights into it; the training
    script trains the logits, then adapts the `features` normalization.
    """
    inputs = keras.Input((28, 28, 1), name="images")
    h = inputs
    for i, filters in enumerate((32, 64, 64)):
        h = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}"
        )(h)
    h = keras.layers.Flatten(name="flatten")(h)
    hidden = keras.layers.Dense(FEATURE_DIM, activation="relu", name="hidden")(h)
    features = keras.layers.Normalization(axis=None, name="features")(hidden)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(hidden)
    return keras.Model(inputs, [features, logits], name="mnist_features")


def mnist_feature_extractor(weights="mnist", include_top=False):
    """A small conv net trained on MNIST, as a feature extractor for sample quality.

    ```none
    x (28, 28, 1) in [0, 1]
      -> Conv 32 3x3 stride 2, ReLU -> Conv 64 3x3 stride 2, ReLU   (7 x 7 x 64)
      -> Conv 64 3x3 stride 2, ReLU -> flatten                       (4 x 4 x 64)
      -> Dense 64, ReLU = h                                          (FEATURE_DIM)
    features = (h - m) / s     m, s: mean and std of all entries of h over the training images
    logits   = Dense 10 (h)                                          (include_top)
    ```

    One scalar `m` and `s` for all units (a `Normalization(axis=None)`
    layer): the features are of order 1, so that `x . y / d` is of order 1
    in the KID kernel `(x . y / d + 1)^3` (raw ReLU units are an order of
    magnitude larger, which the cubic kernel turns into subset noise), while the
    units keep their relative weights (per-unit standardization would blow
    up units that are almost never active on the training images).

    The role Inception-v3's pool features play for FID on ImageNet-like
    images: `keras_vae.diagnostics.frechet_distance`, `kernel_distance` and
    `precision_recall` compare sets of these 64-dimensional features. The
    shipped weights (`WEIGHTS_FILE`, under 1 MB, loaded offline) were
    trained on the 60,000 images of MNIST's training file by
    `benchmarks/train_mnist_features.py`; its test accuracy is in
    `benchmarks/RESULTS.md`. Features of another network are not comparable
    with these: report which extractor a figure used.

    Args:
        weights: `"mnist"` loads the shipped weights; `None` leaves the
            random initialization (for training); or a path to a
            `.weights.h5` file of this architecture.
        include_top: If `True`, return the whole classifier (class logits);
            otherwise the model up to the feature layer. Defaults to
            `False`.

    Returns:
        A functional `keras.Model` taking `(batch, 28, 28, 1)` float images
        in [0, 1] and returning `(batch, 64)` features (or `(batch, 10)`
        logits).

    Example:

    >>> extractor = keras_vae.diagnostics.mnist_feature_extractor()
    >>> tuple(extractor(np.zeros((2, 28, 28, 1), "float32")).shape)
    (2, 64)
    """
    network = feature_network()
    if weights is not None:
        path = WEIGHTS_FILE if weights == "mnist" else os.fspath(weights)
        if not os.path.exists(path):
            raise FileNotFoundError(
                "Expected `weights` to be 'mnist', None or an existing "
                f"'.weights.h5' file. Received: weights={weights!r} (no file {path!r})"
            )
        network.load_weights(path)
    features, logits = network.outputs
    if include_top:
        return keras.Model(network.input, logits, name="mnist_classifier")
    return keras.Model(network.input, features, name="mnist_features")
