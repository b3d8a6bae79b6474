"""Host-side batching shared by the diagnostics and the diagnostic callbacks.

The diagnostics (`log_likelihood`, `active_units`, `elbo_surgery`,
`codebook_usage`) iterate a dataset on the host in batches of exactly
`batch_size` examples, whatever the batching of the input, so that their
results do not depend on how the data was batched. A user writing a
diagnostic of their own gets the same behaviour from these two functions.
"""

import numpy as np
from keras import ops

from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


def example_rank(model):
    """Rank of one example of a model's data, or `None` if unknown.

    ```none
    example_rank(model) = len(model.data_shape)     (None without data_shape)
    ```

    Pass it to `host_batches` so that dataset elements are classified as
    single examples or batches from the model's data shape rather than
    guessed from the dataset's element spec.

    Args:
        model: Any object; its `data_shape` attribute (a shape tuple, as on
            `keras_vae.models.VAE`) is used if present and not `None`.

    Returns:
        An integer, or `None` if `model` has no `data_shape`.

    Example:

    >>> class Model:
    ...     data_shape = (28, 28, 1)
    >>> keras_vae.diagnostics.example_rank(Model())
    3
    >>> keras_vae.diagnostics.example_rank(object()) is None
    True
    """
    data_shape = getattr(model, "data_shape", None)
    return None if data_shape is None else len(tuple(data_shape))


def host_batches(data, batch_size, example_rank=None, max_examples=None):
    """Yields numpy batches of exactly `batch_size` examples (the last smaller).

    ```none
    data  = e_1, e_2, ...          (arrays, or dataset elements of any batching)
    yield   x[0:B], x[B:2B], ...   x = the examples of data in order, B = batch_size
    ```

    Args:
        data: A numpy array, a tensor, a (nested) list, or an iterable of
            elements such as a `tf.data.Dataset`. Elements are `x` or
            tuples/lists `(x, ...)`; only `x` is used.
        batch_size: Positive integer, examples per yielded batch.
        example_rank: Rank of one example (see `example_rank`). Dataset
            elements of this rank are single examples; elements of rank
            `example_rank + 1` are batches. If `None`, a dataset is taken as
            batched when its leading dimension is unknown (`Dataset.batch`
            without `drop_remainder`) and as unbatched otherwise.
        max_examples: Optional cap on the number of examples yielded.

    Yields:
        Numpy arrays of shape `(n,) + example_shape`, `n = batch_size` except
        for the last batch.

    Raises:
        ValueError: if `data` holds no example, or dataset elements have a
            rank other than `example_rank` or `example_rank + 1`.
        TypeError: if `data` is of an unsupported type.

    Example:

    >>> x = np.arange(10.0).reshape(5, 2)
    >>> [b.shape for b in keras_vae.diagnostics.host_batches(x, 2)]
    [(2, 2), (2, 2), (1, 2)]
    >>> ds = tf.data.Dataset.from_tensor_slices(x).batch(3)
    >>> [b.shape for b in keras_vae.diagnostics.host_batches(ds, 2, example_rank=1)]
    [(2, 2), (2, 2), (1, 2)]
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    max_examples = check_optional_positive_int(max_examples, "max_examples")
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
            "Expected `data` to hold at least one example. Received: data with 0 examples"
        )
