"""Codebook usage of a vector-quantized model over a whole dataset."""

import typing

import numpy as np
from keras import ops

from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.utils.validation import check_positive_int


class CodebookUsageResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.codebook_usage`.

    Attributes:
        perplexity: Float, exp of the entropy of the code frequencies over the
            dataset: 1 if one code is used, K if all are used equally.
        usage: Float in [0, 1], the fraction of the K codes used at least once.
        counts: Int64 numpy array of shape `(K,)`, occurrences of each code.
    """

    perplexity: float
    usage: float
    counts: np.ndarray


def _quantizer_of(model):
    from keras_vae.layers.vector_quantizer import VectorQuantizer

    return model if isinstance(model, VectorQuantizer) else None


def _infer_num_embeddings(model):
    for owner in (model, getattr(model, "quantizer", None)):
        value = getattr(owner, "num_embeddings", None)
        if value is not None:
            return check_positive_int(value, "num_embeddings")
    raise ValueError(
        "Expected `num_embeddings`, or a model with a `num_embeddings` attribute "
        "(or a `quantizer` that has one). Received: num_embeddings=None and a "
        f"model of type {type(model).__name__}"
    )


def codebook_usage(model, data, num_embeddings=None, batch_size=100):
    """Perplexity and fraction of codes used, over a whole dataset.

    ```none
    n_k        = occurrences of code k in the codes of every example
    p_k        = n_k / Σ_j n_j
    perplexity = exp(−Σ_k p_k log p_k)
    usage      = |{k : n_k > 0}| / K
    ```

    Per-batch values (`keras_vae.layers.vector_quantizer.codebook_statistics`,
    logged as metrics during training) depend on the batch size: a batch
    holding fewer vectors than codes cannot use every code. Here the counts
    are streamed in int64 over all the data, so the result does not depend
    on `batch_size`.

    Args:
        model: Either a model whose `encode(x)` returns integer code indices
            of a batch (e.g. `keras_vae.models.VQVAE`), or a
            `VectorQuantizer` / `VectorQuantizerEMA` layer, in which case
            `data` holds encoder outputs (last axis `embedding_dim`) and the
            codes are `quantizer.quantize_indices(x)`.
        data: A numpy array or tensor of examples, or a `tf.data.Dataset`,
            batched or not, whose elements are `x` or tuples `(x, ...)`.
        num_embeddings: Positive integer K. Defaults to the model's
            `num_embeddings` attribute (or that of its `quantizer`).
        batch_size: Positive integer, examples per call. Defaults to 100.

    Returns:
        A `CodebookUsageResult(perplexity, usage, counts)`.

    Raises:
        ValueError: if K is unknown, or a code index is outside [0, K).
        TypeError: if `model` has no `encode` method and is not a quantizer.

    Example:

    >>> vqvae = keras_vae.models.VQVAE(
    ...     num_embeddings=16, embedding_dim=4, filters=16, residual_units=8, seed=0)
    >>> vqvae.compile(optimizer="adam")
    >>> history = vqvae.fit(x_train, epochs=1, batch_size=128, verbose=0)
    >>> result = keras_vae.diagnostics.codebook_usage(vqvae, x_test)
    >>> print(f"perplexity {result.perplexity:.1f}, "
    ...       f"{result.usage:.0%} of the codes used")
    perplexity ..., ...% of the codes used

    Reference:
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """
    quantizer = _quantizer_of(model)
    if quantizer is not None:
        encode = quantizer.quantize_indices
    elif callable(getattr(model, "encode", None)):
        encode = model.encode
    else:
        raise TypeError(
            "Expected `model` to have an `encode(x)` method returning code "
            "indices, like `keras_vae.models.VQVAE`, or to be a "
            "`keras_vae.layers.VectorQuantizer`. Received: model of type "
            f"{type(model).__name__}"
        )
    if num_embeddings is None:
        num_embeddings = _infer_num_embeddings(model)
    num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
    batch_size = check_positive_int(batch_size, "batch_size")

    counts = np.zeros(num_embeddings, dtype="int64")
    rank = None if quantizer is not None else example_rank(model)
    for x in host_batches(data, batch_size, rank):
        codes = np.asarray(ops.convert_to_numpy(encode(x)))
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(
                "Expected `encode(x)` to return integer code indices. "
                f"Received: an array of dtype {codes.dtype}"
            )
        codes = codes.ravel().astype("int64")
        if codes.size and (codes.min() < 0 or codes.max() >= num_embeddings):
            raise ValueError(
                f"Expected code indices in [0, {num_embeddings}). Received: "
                f"indices from {codes.min()} to {codes.max()}"
            )
        counts += np.bincount(codes, minlength=num_embeddings)

    total = counts.sum()
    probs = counts[counts > 0].astype("float64") / max(total, 1)
    perplexity = float(np.exp(-np.sum(probs * np.log(probs)))) if total else 0.0
    return CodebookUsageResult(
        perplexity=perplexity,
        usage=float(np.count_nonzero(counts)) / num_embeddings,
        counts=counts,
    )
