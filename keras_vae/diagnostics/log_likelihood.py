"""Importance-sampled marginal log-likelihood of a dataset."""

import typing

import numpy as np
from keras import ops

from keras_vae.utils.validation import check_positive_int


class LogLikelihoodResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.log_likelihood`.

    Attributes:
        nll: Mean negative log-likelihood in nats, `-mean(log_likelihood)`.
        log_likelihood: Float64 numpy array of shape `(num_examples,)`, the
            estimate of log p(x) of every example, in data order.
        num_samples: The number of importance samples per example.
    """

    nll: float
    log_likelihood: np.ndarray
    num_samples: int


def log_likelihood(
    model,
    data,
    num_samples=5000,
    batch_size=100,
    chunk_size=None,
    max_examples=None,
):
    """Importance-sampled log-likelihood of every example of a dataset.

    ```none
    log p(x) ~= log (1/S) sum_{s=1..S} p(x, z_s) / q(z_s | x),   z_s ~ q(z | x)
    NLL       = -(1/N) sum_n log p(x_n)
    ```

    The estimate of each log p(x) is the IWAE bound with S samples: a lower
    bound whose expectation rises to log p(x) as S grows. Burda et al. (2016)
    report test NLL with S = 5000. Batches are drawn on the host and scored by
    `model.log_likelihood(x_batch, num_samples, chunk_size)`, which draws the
    S samples in chunks, so memory stays bounded.

    Args:
        model: A model with a `log_likelihood(x, num_samples, chunk_size)`
            method returning log p(x) per example, e.g.
            `keras_vae.models.VAE`.
        data: A numpy array or tensor of examples (first axis = examples), or
            a `tf.data.Dataset`, batched or not, whose elements are `x` or
            tuples `(x, ...)` (only `x` is used).
        num_samples: Positive integer S, importance samples per example.
            Defaults to 5000.
        batch_size: Positive integer, examples per call of
            `model.log_likelihood`. Defaults to 100.
        chunk_size: Optional positive integer, samples per chunk inside
            `model.log_likelihood` (`None` lets the model choose).
        max_examples: Optional positive integer; score only the first
            `max_examples` examples.

    Returns:
        A `LogLikelihoodResult(nll, log_likelihood, num_samples)`.

    Example:

    >>> result = keras_vae.diagnostics.log_likelihood(
    ...     vae, x_test, num_samples=5000, batch_size=100)
    >>> print(f"test NLL: {result.nll:.2f} nats")

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    if not callable(getattr(model, "log_likelihood", None)):
        raise TypeError(
            "Expected `model` to have a `log_likelihood(x, num_samples, "
            "chunk_size)` method, like `keras_vae.models.VAE`. "
            f"Received: model of type {type(model).__name__}"
        )
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    if max_examples is not None:
        max_examples = check_positive_int(max_examples, "max_examples")

    parts = []
    for x in host_batches(data, batch_size, _data_rank(model), max_examples):
        log_px = model.log_likelihood(
            x, num_samples=num_samples, chunk_size=chunk_size
        )
        parts.append(np.asarray(log_px, dtype="float64").reshape(-1))
    log_px = np.concatenate(parts)
    return LogLikelihoodResult(
        nll=float(-np.mean(log_px)),
        log_likelihood=log_px,
        num_samples=num_samples,
    )


def _data_rank(model):
    """Rank of one example if the model knows its data shape, else `None`."""
    data_shape = getattr(model, "data_shape", None)
    return None if data_shape is None else len(tuple(data_shape))


def host_batches(data, batch_size, example_rank=None, max_examples=None):
    """Yield numpy batches of exactly `batch_size` examples (the last smaller).

    Shared by the diagnostics: they iterate a dataset on the host, whatever
    its batching, so that their results do not depend on the batch size.

    Args:
        data: A numpy array, a tensor, or an iterable of elements such as a
            `tf.data.Dataset`. Elements are `x` or tuples/lists `(x, ...)`.
        batch_size: Positive integer, examples per yielded batch.
        example_rank: Rank of one example. Dataset elements of this rank are
            single examples; elements of rank `example_rank + 1` are batches.
            If `None`, a dataset is taken as batched when its leading
            dimension is unknown (`Dataset.batch` without `drop_remainder`)
            and as unbatched otherwise.
        max_examples: Optional cap on the number of examples yielded.

    Yields:
        Numpy arrays of shape `(n,) + example_shape`.

    Raises:
        ValueError: if `data` holds no example.
        TypeError: if `data` is of an unsupported type.
    """
    if isinstance(data, (list, tuple)):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) or ops.is_tensor(data):
        arrays = [ops.convert_to_numpy(data)]
        if arrays[0].ndim == 0:
            raise ValueError(
                "Expected `data` to have a leading examples axis. "
                f"Received: data of shape {arrays[0].shape}"
            )
    elif isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "Expected `data` to be a numpy array, a tensor or a "
            "`tf.data.Dataset`. Received: data of type "
            f"{type(data).__name__}"
        )
    else:
        batched = _is_batched(data, example_rank)
        arrays = (_element_batch(e, batched, example_rank) for e in data)
    yield from _rebatch(arrays, batch_size, max_examples)


def _check_rank(rank, example_rank, what):
    if example_rank is not None and rank not in (example_rank, example_rank + 1):
        raise ValueError(
            f"Expected dataset elements of rank {example_rank} (one example) "
            f"or {example_rank + 1} (a batch). Received: {what}"
        )


def _is_batched(data, example_rank):
    """Whether dataset elements are batches, from the element spec if known."""
    spec = getattr(data, "element_spec", None)
    if isinstance(spec, (tuple, list)):
        spec = spec[0] if spec else None
    shape = getattr(spec, "shape", None)
    if shape is None or shape.rank is None:
        return None  # decided per element
    _check_rank(shape.rank, example_rank, f"element shape {tuple(shape)}")
    if example_rank is not None:
        return shape.rank == example_rank + 1
    return shape.rank > 0 and shape[0] is None


def _element_batch(element, batched, example_rank):
    if isinstance(element, (tuple, list)):
        element = element[0]
    x = np.asarray(ops.convert_to_numpy(element))
    if batched is None:
        _check_rank(x.ndim, example_rank, f"an element of shape {x.shape}")
        batched = x.ndim > 0 if example_rank is None else x.ndim > example_rank
    return x if batched else x[None]


def _rebatch(arrays, batch_size, max_examples):
    pending, count, seen = [], 0, 0
    for x in arrays:
        if max_examples is not None:
            x = x[: max_examples - seen]
        seen += len(x)
        pending.append(x)
        count += len(x)
        while count >= batch_size:
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            yield joined[:batch_size]
            pending, count = [joined[batch_size:]], count - batch_size
        if max_examples is not None and seen >= max_examples:
            break
    if count:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)
    if seen == 0:
        raise ValueError(
            "Expected `data` to hold at least one example. Received: data "
            "with 0 examples"
        )
