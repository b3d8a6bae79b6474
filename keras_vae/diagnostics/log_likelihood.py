"""Importance-sampled marginal log-likelihood of a dataset."""

import math
import typing

import numpy as np

from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.utils.validation import check_method
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


class LogLikelihoodResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.log_likelihood`.

    Attributes:
        nll: Mean negative log-likelihood in nats, `-mean(log_likelihood)`.
        log_likelihood: Float64 numpy array of shape `(num_examples,)`, the
            estimate of log p(x) of every example, in data order.
        num_importance_samples: The number of importance samples per example.
        bits_per_dim: The NLL in bits per data dimension,
            `nll / (num_dimensions * ln 2)` (the mean over examples of each
            example's `-log_likelihood / (D ln 2)`).
        num_dimensions: D, the number of data dimensions of one example
            (e.g. 784 for a 28x28x1 image).
    """

    nll: float
    log_likelihood: np.ndarray
    num_importance_samples: int
    bits_per_dim: float
    num_dimensions: int


def log_likelihood(
    model,
    data,
    num_importance_samples=5000,
    batch_size=100,
    chunk_size=None,
    max_examples=None,
):
    """Importance-sampled log-likelihood of every example of a dataset.

    ```none
    log p(x) ~= log (1/S) sum_{s=1..S} p(x, z_s) / q(z_s | x),   z_s ~ q(z | x)
    NLL       = -(1/N) sum_n log p(x_n)                         (nats)
    bits/dim  = NLL / (D ln 2)                                  (D = data dimensions)
    ```

    The estimate of each log p(x) is the IWAE bound with S samples: a lower
    bound whose expectation rises to log p(x) as S grows. Burda et al. (2016)
    report test NLL with S = 5000. Batches are drawn on the host and scored by
    `model.log_likelihood(x_batch, num_importance_samples, chunk_size)`, which draws the
    S samples in chunks inside one compiled loop per batch, so memory stays
    bounded.

    Bits per dimension divide the NLL by D ln 2, with D the size of one
    example (`prod(x.shape[1:])`), so that models of images of different
    sizes compare; it is the definition of
    `keras_vae.models.PixelCNN.bits_per_dim`. It is a code length (bits)
    only for a discrete likelihood (Bernoulli, discretized logistic); for a
    density on continuous data it is a differential entropy, which depends on
    the scale of the data (rescaling x to [0, 1] from 256 levels lowers it by
    log2(256) = 8 bits/dim against the discrete figure).

    Args:
        model: A model with a `log_likelihood(x, num_importance_samples, chunk_size)`
            method returning log p(x) per example, e.g.
            `keras_vae.models.VAE`.
        data: A numpy array or tensor of examples (first axis = examples), or
            a `tf.data.Dataset`, batched or not, whose elements are `x` or
            tuples `(x, ...)` (only `x` is used).
        num_importance_samples: Positive integer S, importance samples per example.
            Defaults to 5000.
        batch_size: Positive integer, examples per call of
            `model.log_likelihood`. Defaults to 100.
        chunk_size: Optional positive integer, samples per chunk inside
            `model.log_likelihood` (`None` lets the model choose).
        max_examples: Optional positive integer; score only the first
            `max_examples` examples.

    Returns:
        A `LogLikelihoodResult(nll, log_likelihood, num_importance_samples,
        bits_per_dim, num_dimensions)`.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0)
    >>> result = keras_vae.diagnostics.log_likelihood(  # the papers use 5000
    ...     vae, x_test, num_importance_samples=500, batch_size=100)
    >>> print(f"test NLL: {result.nll:.2f} nats")
    test NLL: ... nats
    >>> bool(np.isclose(result.bits_per_dim, result.nll / (64 * np.log(2))))  # 8x8 digits
    True

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    check_method(
        model,
        "log_likelihood",
        "to have a `log_likelihood(x, num_importance_samples, chunk_size)` method, "
        "like a `keras_vae.models.LatentVariableModel` (a `VQVAE` has none: see "
        "`keras_vae.models.PixelCNN.bits_per_dim`)",
    )
    num_importance_samples = check_positive_int(num_importance_samples, "num_importance_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_size = check_optional_positive_int(chunk_size, "chunk_size")
    max_examples = check_optional_positive_int(max_examples, "max_examples")

    parts, num_dimensions = [], None
    for x in host_batches(data, batch_size, example_rank(model), max_examples):
        num_dimensions = math.prod(x.shape[1:])
        log_px = model.log_likelihood(
            x, num_importance_samples=num_importance_samples, chunk_size=chunk_size
        )
        parts.append(np.asarray(log_px, dtype="float64").reshape(-1))
    log_px = np.concatenate(parts)
    nll = float(-np.mean(log_px))
    return LogLikelihoodResult(
        nll=nll,
        log_likelihood=log_px,
        num_importance_samples=num_importance_samples,
        bits_per_dim=nll / (num_dimensions * math.log(2.0)),
        num_dimensions=num_dimensions,
    )
