"""Sample quality of a generative model over a feature extractor: FD, KID, precision/recall."""

import math
import typing

import numpy as np
from keras import ops

from keras_vae.diagnostics.batching import host_batches
from keras_vae.diagnostics.frechet_distance import frechet_distance
from keras_vae.diagnostics.kernel_distance import kernel_distance
from keras_vae.diagnostics.mnist_features import mnist_feature_extractor
from keras_vae.diagnostics.precision_recall import precision_recall
from keras_vae.utils.validation import check_method
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


class SampleQualityResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.sample_quality`.

    Attributes:
        frechet_distance: Fréchet distance of the features (FID-style).
        kernel_distance: KID, the mean unbiased MMD^2 over subsets.
        kernel_distance_std: Standard deviation of KID over subsets.
        precision: Share of samples inside the data's k-NN manifold.
        recall: Share of data inside the samples' k-NN manifold.
        num_samples: Model samples scored.
        num_real: Data examples scored.
    """

    frechet_distance: float
    kernel_distance: float
    kernel_distance_std: float
    precision: float
    recall: float
    num_samples: int
    num_real: int


def extract_features(feature_extractor, data, batch_size=500, max_examples=None):
    """Features of every example of `data`, as a float64 matrix.

    ```none
    features = concat_b feature_extractor(reshape(x_b, input_shape))   (num_examples, d)
    ```

    Each batch is reshaped to the extractor's input shape when the sizes
    agree (flat `(784,)` images for a `(28, 28, 1)` extractor), and the
    output is flattened to one vector per example.

    Args:
        feature_extractor: A `keras.Model` (or any callable on a batch).
        data: An array, tensor or `tf.data.Dataset` of examples (see
            `keras_vae.diagnostics.host_batches`).
        batch_size: Positive integer, examples per call. Defaults to 500.
        max_examples: Optional positive integer, use the first examples only.

    Returns:
        A float64 numpy array `(num_examples, d)`.

    Example:

    >>> extractor = keras_vae.diagnostics.mnist_feature_extractor()
    >>> keras_vae.diagnostics.extract_features(extractor, np.zeros((3, 784))).shape
    (3, 64)
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    max_examples = check_optional_positive_int(max_examples, "max_examples")
    try:
        input_shape = feature_extractor.input_shape
    except (AttributeError, ValueError):  # a plain callable, an unbuilt Sequential
        input_shape = None
    example_shape = None
    if isinstance(input_shape, tuple) and all(isinstance(s, int) for s in input_shape[1:]):
        example_shape = tuple(input_shape[1:])
    parts = []
    for x in host_batches(data, batch_size, max_examples=max_examples):
        if example_shape is not None and x.shape[1:] != example_shape:
            if math.prod(x.shape[1:]) != math.prod(example_shape):
                raise ValueError(
                    f"Expected examples of shape {example_shape} (the feature "
                    f"extractor's input) or of the same size. Received: {x.shape[1:]}"
                )
            x = x.reshape((-1,) + example_shape)
        features = ops.convert_to_numpy(feature_extractor(x.astype("float32")))
        parts.append(np.asarray(features, "float64").reshape(len(x), -1))
    return np.concatenate(parts)


def sample_quality(
    model,
    x,
    feature_extractor=None,
    num_samples=None,
    batch_size=500,
    kid_subsets=100,
    kid_subset_size=1000,
    k=3,
    seed=0,
):
    """Scores a model's samples against data in a feature space.

    ```none
    G = features(model.sample(num_samples)),   R = features(x)
    frechet_distance = ||mu_R - mu_G||^2 + tr(S_R + S_G - 2 (S_R S_G)^(1/2))
    kernel_distance  = mean over subsets of unbiased MMD^2, k(a, b) = (a.b/d + 1)^3
    precision        = share of G inside the union of R's k-NN balls
    recall           = share of R inside the union of G's k-NN balls
    ```

    (`frechet_distance`, `kernel_distance`, `precision_recall`.) Samples
    are what `model.sample(n)` returns: for a `keras_vae.models.VAE` the
    means of p(x | z), e.g. Bernoulli probabilities, so give `x` in the same
    form (grey levels rather than binarized images) and say which in a
    report. The baseline to compare a model with is the same figures for
    held-out data against `x` (`extract_features` on both, then the three
    functions): a model cannot beat data drawn from the same distribution
    at the same sizes, since the Fréchet distance is biased upwards by
    finite sets.

    Args:
        model: A model with a `sample(num_samples)` method returning a batch
            of examples (e.g. `keras_vae.models.VAE`).
        x: Data examples (array, tensor or `tf.data.Dataset`); all are used.
        feature_extractor: A `keras.Model` mapping examples to features.
            Defaults to `mnist_feature_extractor()` (28x28 images in [0, 1]).
        num_samples: Positive integer, model samples to draw. Defaults to
            the number of examples of `x`.
        batch_size: Positive integer, samples drawn and examples featurized
            per call. Defaults to 500.
        kid_subsets: `num_subsets` of `kernel_distance`. Defaults to 100.
        kid_subset_size: `subset_size` of `kernel_distance`. Defaults to 1000.
        k: Neighbour rank of `precision_recall`. Defaults to 3.
        seed: Seed of the KID subsets. Defaults to 0. (The samples follow
            the model's own seed.)

    Returns:
        A `SampleQualityResult(frechet_distance, kernel_distance,
        kernel_distance_std, precision, recall, num_samples, num_real)`.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=2, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> flat = keras.Sequential([keras.layers.Flatten()])  # pixels as features
    >>> result = keras_vae.diagnostics.sample_quality(
    ...     vae, x_test, feature_extractor=flat, kid_subsets=10, kid_subset_size=100)
    >>> result.num_samples, result.num_real
    (300, 300)
    >>> 0.0 <= result.precision <= 1.0
    True

    Reference:
        - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500)
        - [Bińkowski et al., 2018](https://arxiv.org/abs/1801.01401)
        - [Kynkäänniemi et al., 2019](https://arxiv.org/abs/1904.06991)
    """
    check_method(model, "sample", "to have a `sample(num_samples)` method")
    num_samples = check_optional_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    if feature_extractor is None:
        feature_extractor = mnist_feature_extractor()
    real = extract_features(feature_extractor, x, batch_size)
    if num_samples is None:
        num_samples = real.shape[0]
    samples = [
        ops.convert_to_numpy(model.sample(min(batch_size, num_samples - start)))
        for start in range(0, num_samples, batch_size)
    ]
    generated = extract_features(feature_extractor, np.concatenate(samples), batch_size)
    kid = kernel_distance(real, generated, kid_subsets, kid_subset_size, seed)
    pr = precision_recall(real, generated, k)
    return SampleQualityResult(
        frechet_distance=frechet_distance(real, generated),
        kernel_distance=kid.mean,
        kernel_distance_std=kid.std,
        precision=pr.precision,
        recall=pr.recall,
        num_samples=num_samples,
        num_real=real.shape[0],
    )
