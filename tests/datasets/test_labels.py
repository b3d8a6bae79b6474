"""`keras_vae.datasets.load(..., labels=True)`: each image with its class.

Oracles: scikit-learn's `load_digits().target` permuted as the splits are
(numpy); the label bytes of MNIST's IDX files read with numpy from offset 8
(magic 2049 and the count, big-endian); for TFDS's MNIST, the IDX files'
(image, label) pairs, which TFDS holds in another order.
"""

import gzip
import struct

import numpy as np
import pytest

from keras_vae import datasets
from keras_vae import testing
from keras_vae.testing.real_data import raw_data_dir
from keras_vae.testing.real_data import requires_data

SPLITS = {"train": slice(0, 1297), "validation": slice(1297, 1497), "test": slice(1497, 1797)}


def digits_labels(split):
    """The digits' labels in split order: the target permuted with seed 0."""
    from sklearn.datasets import load_digits

    target = load_digits().target
    return target[np.random.RandomState(0).permutation(len(target))][SPLITS[split]]


def idx_labels(path):
    """Labels of an IDX label file: magic 2049, the count, then one byte each."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    magic, count = struct.unpack(">II", data[:8])
    assert magic == 2049 and len(data) == 8 + count
    return np.frombuffer(data, np.uint8, offset=8)


def positions(images, reference):
    """`p` with `images == reference[p]` (rows of `reference` are unique)."""
    where = {row.tobytes(): i for i, row in enumerate(reference)}
    assert len(where) == len(reference)
    return np.array([where[row.tobytes()] for row in images])


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_digits_labels_as_numpy(split):
    x, y = datasets.load("digits", split, binarization=None, as_numpy=True, labels=True)
    assert y.dtype == np.int32 and y.shape == (len(x),)
    np.testing.assert_array_equal(y, digits_labels(split))
    # The images are those of labels=False.
    np.testing.assert_array_equal(
        x, datasets.load("digits", split, binarization=None, as_numpy=True)
    )


def test_labels_follow_the_shuffled_images_of_a_stream():
    raw = datasets.load("digits", "train", binarization=None, as_numpy=True, flatten=True)
    truth = digits_labels("train")
    stream = datasets.load(
        "digits", "train", binarization=None, batch_size=500, seed=3, flatten=True, labels=True
    )
    assert [tuple(s.shape) for s in stream.element_spec] == [(None, 64), (None,)]
    assert stream.element_spec[1].dtype.name == "int32"
    for _ in range(2):  # two passes, two orders
        x, y = whole(stream, batched=True)
        order = positions(x, raw)
        assert not np.array_equal(order, np.arange(len(raw)))
        np.testing.assert_array_equal(y, truth[order])


def whole(dataset, batched):
    """One pass of a stream as arrays (a tuple of them for `(x, y)` elements)."""
    join = np.concatenate if batched else np.stack
    elements = [e for e in dataset]
    if isinstance(elements[0], tuple):
        return tuple(join(part) for part in zip(*elements))
    return join(elements)


@pytest.mark.parametrize("batch_size", [None, 64])
def test_labels_leave_the_images_of_a_stream_unchanged(batch_size):
    """Same seed: the images, order and dynamic noise of labels=False."""
    kwargs = dict(binarization="dynamic", shuffle=True, batch_size=batch_size, seed=5)
    batched = batch_size is not None
    x, y = whole(datasets.load("digits", "validation", labels=True, **kwargs), batched)
    np.testing.assert_array_equal(
        x, whole(datasets.load("digits", "validation", **kwargs), batched)
    )
    assert set(np.unique(x).tolist()) == {0.0, 1.0} and y.shape == (200,)


def test_static_stream_with_labels_matches_numpy():
    x, y = datasets.load("digits", "test", as_numpy=True, labels=True)
    stream = datasets.load("digits", "test", batch_size=64, labels=True)
    xs, ys = whole(stream, batched=True)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def test_label_errors():
    with pytest.raises(ValueError, match="'binarized_mnist' has no labels.*'mnist'"):
        datasets.load("binarized_mnist", "test", labels=True, download=False)
    with pytest.raises(ValueError, match="`labels` to be True or False.*labels='yes'"):
        datasets.load("digits", "test", labels="yes")


RAW = raw_data_dir()
HAS_RAW_MNIST = RAW is not None and (RAW / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
needs_raw_mnist = requires_data(HAS_RAW_MNIST, reason="needs KERAS_VAE_RAW_DATA_DIR with mnist/")


@needs_raw_mnist
@pytest.mark.parametrize(
    "split, file, cut", [("test", "t10k", slice(None)), ("valid", "train", slice(50000, None))]
)
def test_mnist_idx_labels(split, file, cut):
    x, y = datasets.load("mnist", split, data_dir=RAW, as_numpy=True, labels=True, download=False)
    assert y.dtype == np.int32 and y.shape == (len(x),) == (10000,)
    np.testing.assert_array_equal(
        y, idx_labels(RAW / "mnist" / f"{file}-labels-idx1-ubyte.gz")[cut]
    )


TFDS_DIR = testing.prepared_tfds_dir("mnist")


@requires_data(
    HAS_RAW_MNIST and TFDS_DIR is not None,
    reason="needs KERAS_VAE_RAW_DATA_DIR with mnist/ and a prepared TFDS mnist",
)
def test_tfds_mnist_labels_are_those_of_the_idx_files():
    kwargs = dict(binarization=None, as_numpy=True, flatten=True, labels=True, download=False)
    x, y = datasets.load("mnist", "test", data_dir=TFDS_DIR, **kwargs)
    images = datasets.load("mnist", "test", data_dir=RAW, **{**kwargs, "labels": False})
    labels = idx_labels(RAW / "mnist" / "t10k-labels-idx1-ubyte.gz")

    def pairs(pixels, classes):  # (image, label) rows, sorted
        rows = np.concatenate([np.rint(pixels * 255), classes[:, None]], axis=1)
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_array_equal(pairs(x, y), pairs(images, labels))
    assert not np.array_equal(y, labels)  # another order
