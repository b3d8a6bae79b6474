"""Reading MNIST from its four original IDX files, gzipped or not."""

import gzip
import os

import numpy as np

# Our split -> the stem of the IDX image file it is cut from.
IMAGE_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABEL_FILES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}

# IDX type code 0x08: unsigned bytes (the only type MNIST uses).
_UBYTE = 0x08


def _existing(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def find_idx_dir(data_dir):
    """The directory holding MNIST's IDX files under `data_dir`, or `None`.

    Looks in `data_dir` itself, then in `data_dir/mnist`, for
    `train-images-idx3-ubyte.gz` (or the uncompressed
    `train-images-idx3-ubyte`).

    Args:
        data_dir: a path or `None`.

    Returns:
        The directory as `str`, or `None` when neither holds the file.
    """
    if data_dir is None:
        return None
    for directory in (data_dir, os.path.join(data_dir, "mnist")):
        if _existing(directory, IMAGE_FILES["train"]) is not None:
            return os.fspath(directory)
    return None


def read_idx(path):
    """Read one IDX file (optionally gzipped) of unsigned bytes into numpy.

    The IDX format (LeCun et al.) is big-endian: a magic number whose third
    byte is the type code (0x08 for unsigned bytes) and whose fourth is the
    number of dimensions, one 32-bit size per dimension, then the values in
    row-major order.

    ```none
    train-images-idx3-ubyte: magic 2051, sizes (60000, 28, 28)
    train-labels-idx1-ubyte: magic 2049, sizes (60000,)
    ```

    Args:
        path: an `.../*-ubyte` file, or the same gzipped (`*.gz`).

    Returns:
        A `uint8` array of the file's shape, e.g. `(60000, 28, 28)`.

    Example:

    >>> labels = read_idx("mnist/t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape  # doctest: +SKIP
    (10000,)
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise ValueError(
            "Expected an IDX file of unsigned bytes (magic 0x0000 0x08 0xNN). "
            f"Received: {path!r}, starting with {data[:4].hex() or 'nothing'}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(
            f"Expected {header + int(np.prod(shape))} bytes in the IDX file "
            f"{path!r} of shape {shape}. Received: {len(data)} bytes."
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_split(directory, split, labels=False):
    """Images (or labels) of MNIST's `"train"` or `"test"` file, in file order.

    Args:
        directory: a directory holding the IDX files (see `find_idx_dir`).
        split: `"train"` (60,000) or `"test"` (10,000).
        labels: return the labels instead of the images.

    Returns:
        `uint8` images of shape `(N, 28, 28, 1)`, or labels of shape `(N,)`.
    """
    stem = (LABEL_FILES if labels else IMAGE_FILES)[split]
    path = _existing(directory, stem)
    if path is None:
        raise FileNotFoundError(
            f"Expected the MNIST file '{stem}.gz' (or '{stem}') in "
            f"{os.fspath(directory)!r}. Received: no such file."
        )
    array = read_idx(path)
    return array if labels else array[..., np.newaxis]
