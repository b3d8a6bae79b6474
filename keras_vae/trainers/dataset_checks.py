"""Checks of a `tf.data.Dataset` before any step runs (TensorFlow's input
pipeline, used under every backend where TensorFlow is installed)."""

from keras_vae.utils.optional_tensorflow import imported_tensorflow

# `tf.data` transformations that keep one element per input element.
_ELEMENTWISE = (
    "map",
    "prefetch",
    "shuffle",
    "cache",
    "repeat",
    "take",
    "skip",
    "filter",
    "options",
    "shard",
    "ignoreerrors",
    "assertcardinality",
    "zip",
    "concatenate",
    "maxintraopparallelism",
    "privatethreadpool",
)


def is_tensor_spec(spec):
    """Whether a dataset's element spec is a `tf.TensorSpec` (never without
    TensorFlow imported: then the dataset is another library's)."""
    tf = imported_tensorflow()
    return tf is not None and isinstance(spec, tf.TensorSpec)


def dataset_looks_unbatched(dataset):
    """Whether a `tf.data.Dataset` yields single examples, not batches.

    The public element spec answers first: an unknown leading dimension is
    a batch axis (`batch()` without `drop_remainder`). Otherwise the
    pipeline is read: `True` when it reads rows (`from_tensor_slices`,
    `unbatch`) and only element-wise transformations follow; `False` when
    it batches, or when its source (e.g. a generator) does not say.
    """
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    shape = getattr(spec, "shape", None)
    if shape is not None and shape.rank and shape[0] is None:
        return False
    return _reads_rows(dataset)


def _reads_rows(dataset):
    name = type(dataset).__name__.lower().replace("_", "")
    if "unbatch" in name or "tensorslice" in name:
        return True
    if "batch" in name or "flatmap" in name or not any(k in name for k in _ELEMENTWISE):
        return False
    # Imported here: it imports TensorFlow, which a `tf.data` pipeline has.
    from keras_vae.utils import tf_internal

    inputs = tf_internal.dataset_inputs(dataset)
    return bool(inputs) and all(_reads_rows(d) for d in inputs)
