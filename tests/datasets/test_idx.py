"""`keras_vae.datasets.load("mnist", ...)` from the original IDX files.

Synthetic IDX files are written here byte by byte (struct, independent of
the reader); the real files, when `KERAS_VAE_RAW_DATA_DIR` names a raw data
dir (`tests/conftest.py`), are checked against TFDS's copy of MNIST.
"""

import gzip
import struct
import sys

import numpy as np
import pytest

from keras_vae import datasets
from keras_vae import testing
from keras_vae.datasets import idx_source
from keras_vae.testing.real_data import raw_data_dir
from keras_vae.testing.real_data import requires_data

load_module = sys.modules["keras_vae.datasets.load"]


def idx_bytes(array):
    """IDX bytes of a uint8 array: magic 0x00 0x00 0x08 ndim, sizes, values."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(directory, train, test, gz=True):
    """Write the four MNIST files (images and random labels) into `directory`.

    Returns the labels written, `{"train": ..., "test": ...}`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    labels = {split: rng.integers(0, 10, len(x)) for split, x in (("train", train), ("test", test))}
    files = {
        "train-images-idx3-ubyte": train,
        "train-labels-idx1-ubyte": labels["train"],
        "t10k-images-idx3-ubyte": test,
        "t10k-labels-idx1-ubyte": labels["test"],
    }
    for stem, array in files.items():
        data = idx_bytes(np.asarray(array, np.uint8))
        if gz:
            with gzip.open(directory / f"{stem}.gz", "wb", compresslevel=1) as f:
                f.write(data)
        else:
            (directory / stem).write_bytes(data)
    return labels


@pytest.fixture
def fake_mnist(monkeypatch):
    """60,000 + 10,000 images, random in their first row only (small files).

    `load`'s cache starts empty.
    """
    monkeypatch.setattr(load_module, "_CACHE", {})
    rng = np.random.default_rng(0)
    train = np.zeros((60000, 28, 28), np.uint8)
    test = np.zeros((10000, 28, 28), np.uint8)
    train[:, 0] = rng.integers(0, 256, size=(60000, 28))
    test[:, 0] = rng.integers(0, 256, size=(10000, 28))
    return train, test


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subdir", ["", "mnist"])
def test_load_reads_idx_files_in_file_order(fake_mnist, tmp_path, gz, subdir):
    train, test = fake_mnist
    labels = write_mnist(tmp_path / subdir, train, test, gz=gz)
    kwargs = dict(data_dir=tmp_path, binarization=None, as_numpy=True, download=False)
    x_train = datasets.load("mnist", "train", **kwargs)
    x_valid = datasets.load("mnist", "validation", **kwargs)
    x_test = datasets.load("mnist", "test", **kwargs)
    assert x_train.shape == (50000, 28, 28, 1) and x_train.dtype == np.float32
    np.testing.assert_array_equal(x_train[..., 0] * 255, train[:50000])
    np.testing.assert_array_equal(x_valid[..., 0] * 255, train[50000:])
    np.testing.assert_array_equal(x_test[..., 0] * 255, test)
    # "auto" binarizes the test split statically, as for the TFDS source.
    static = datasets.load("mnist", "test", data_dir=tmp_path, as_numpy=True)
    expected = np.random.RandomState(777).uniform(size=x_test.shape) < x_test
    np.testing.assert_array_equal(static, expected)
    # The labels of the matching label files, cut as the images are.
    x, y = datasets.load("mnist", "test", labels=True, **kwargs)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, labels["test"])
    np.testing.assert_array_equal(x, x_test)
    for split, cut in (("train", slice(None, 50000)), ("validation", slice(50000, None))):
        _, y = datasets.load("mnist", split, labels=True, **kwargs)
        np.testing.assert_array_equal(y, labels["train"][cut])


def test_read_idx_labels_and_errors(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(idx_source.read_idx(tmp_path / "labels"), labels)
    (tmp_path / "short").write_bytes(idx_bytes(labels)[:-1])
    with pytest.raises(ValueError, match="Expected 13 bytes.*Received: 12 bytes"):
        idx_source.read_idx(tmp_path / "short")
    floats = struct.pack(">BBBB", 0, 0, 0x0D, 1) + struct.pack(">I", 1) + b"\0" * 4
    (tmp_path / "floats").write_bytes(floats)
    with pytest.raises(ValueError, match="unsigned bytes"):
        idx_source.read_idx(tmp_path / "floats")


def test_directory_without_idx_files_is_not_taken_for_one(tmp_path):
    (tmp_path / "mnist").mkdir()
    assert idx_source.find_idx_dir(tmp_path) is None
    assert idx_source.find_idx_dir(None) is None
    with pytest.raises(FileNotFoundError, match="TFDS_DATA_DIR"):
        datasets.load("mnist", "test", data_dir=tmp_path, download=False)


RAW = raw_data_dir()
HAS_RAW_MNIST = RAW is not None and idx_source.find_idx_dir(RAW) is not None
TFDS_DIR = testing.prepared_tfds_dir("mnist")


@requires_data(
    HAS_RAW_MNIST and TFDS_DIR is not None,
    reason="needs KERAS_VAE_RAW_DATA_DIR with mnist/*.gz and a prepared TFDS mnist",
)
def test_real_idx_files_hold_the_images_of_tfds_mnist():
    kwargs = dict(binarization=None, as_numpy=True, download=False, flatten=True)
    ours = datasets.load("mnist", "test", data_dir=RAW, **kwargs)
    theirs = datasets.load("mnist", "test", data_dir=TFDS_DIR, **kwargs)
    assert ours.shape == theirs.shape == (10000, 784)
    # Same images in another order (TFDS shuffles by hash).
    order = lambda x: x[np.lexsort(x.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(order(ours), order(theirs))
    _, labels = datasets.load("mnist", "test", data_dir=RAW, labels=True, **kwargs)
    assert labels.shape == (10000,) and np.bincount(labels).tolist()[0] == 980
