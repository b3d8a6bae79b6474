"""Reading image splits from TensorFlow Datasets (TFDS) into numpy, offline first."""

import os

import numpy as np

from keras_vae.utils.optional_tensorflow import import_tensorflow

# Environment variables searched, in order, when no `data_dir` is passed.
DATA_DIR_ENV_VARS = ("KERAS_VAE_DATA_DIR", "TFDS_DATA_DIR")

_DECODE_BATCH = 10000


def resolve_data_dir(data_dir=None):
    """Return the TFDS data directory to use.

    The order is: the `data_dir` argument, then the environment variables
    `KERAS_VAE_DATA_DIR` and `TFDS_DATA_DIR`, then `None` (TFDS's default,
    usually `~/tensorflow_datasets`).

    Args:
        data_dir: a path (`str` or path-like) or `None`.

    Returns:
        An absolute path as `str`, or `None`.
    """
    if data_dir is None:
        for var in DATA_DIR_ENV_VARS:
            if os.environ.get(var):
                data_dir = os.environ[var]
                break
    if data_dir is None:
        return None
    try:
        path = os.fspath(data_dir)
    except TypeError:
        raise TypeError(
            "Expected `data_dir` to be a path (str or os.PathLike) or None. "
            f"Received: data_dir={data_dir!r}"
        ) from None
    return os.path.abspath(os.path.expanduser(path))


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            "Loading TFDS datasets needs `tensorflow-datasets` (and, for TFDS "
            "4.9.x, `importlib_resources`, which it does not declare). Install "
            "them with `pip install tensorflow-datasets importlib_resources`. "
            f"Import failed with: {error}"
        ) from error
    return tfds


def _describe(data_dir, builder):
    if data_dir is None:
        return (
            f"the TFDS default data_dir ('{builder.data_dir_root}'; neither "
            "`data_dir` nor KERAS_VAE_DATA_DIR / TFDS_DATA_DIR was set)"
        )
    return f"data_dir={data_dir!r}"


def read_split(name, split, data_dir=None, download=True, labels=False):
    """Read every image (and label) of one TFDS split into numpy arrays.

    Preparedness is checked up front with the TFDS builder. With
    `download=False` a dataset missing from the data dir raises a
    `FileNotFoundError` that says where it looked and how to fix it; nothing
    touches the network. With `download=True` TFDS downloads and prepares the
    dataset as usual when it is missing, and any failure of that step is
    re-raised as a `RuntimeError` that explains the offline alternative.

    Args:
        name: TFDS dataset name, e.g. `"mnist"`.
        split: TFDS split name or slice, e.g. `"train"` or `"train[:100]"`.
        data_dir: a resolved data dir (see `resolve_data_dir`) or `None`.
        download: whether TFDS may download and prepare missing data.
        labels: also return the `"label"` feature.

    Returns:
        The `"image"` feature of all examples, stacked in TFDS order, as an
        array of shape `(N, H, W, C)` (`uint8` for MNIST); with
        `labels=True`, the pair of it and the `"label"` feature, shape `(N,)`.
    """
    tf = import_tensorflow(f"Reading the TFDS dataset {name!r}")
    tfds = _import_tfds()
    builder = tfds.builder(name, data_dir=data_dir)
    prepared = builder.is_prepared()
    if not prepared and not download:
        raise FileNotFoundError(
            f"Dataset {name!r} (TFDS version {builder.version}) is not "
            f"prepared in {_describe(data_dir, builder)}: no "
            f"'{os.path.join(str(builder.data_dir), 'dataset_info.json')}' was "
            "found, and download=False. To fix it, pass `data_dir=` (or set "
            "the environment variable KERAS_VAE_DATA_DIR or TFDS_DATA_DIR) to "
            f"a prepared TFDS data directory that holds "
            f"'{name}/{builder.version}/', or, when online, call with "
            "download=True to let TFDS download and prepare it."
        )
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, download=download)
        features = ("image", "label") if labels else ("image",)
        columns = dataset.map(
            lambda example: tuple(example[f] for f in features),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(_DECODE_BATCH)
        chunks = list(columns.as_numpy_iterator())
    except Exception as error:
        if prepared:
            raise
        raise RuntimeError(
            f"TFDS could not download and prepare dataset {name!r} into "
            f"{_describe(data_dir, builder)}: {type(error).__name__}: {error}. "
            "Offline, pass `data_dir=` (or set KERAS_VAE_DATA_DIR / "
            "TFDS_DATA_DIR) to a TFDS data directory where "
            f"'{name}/{builder.version}/' is already prepared, and use "
            "download=False."
        ) from error
    if not chunks:
        raise RuntimeError(
            f"TFDS split {split!r} of dataset {name!r} in "
            f"{_describe(data_dir, builder)} holds no examples."
        )
    arrays = tuple(np.concatenate(column, axis=0) for column in zip(*chunks))
    return arrays if labels else arrays[0]
