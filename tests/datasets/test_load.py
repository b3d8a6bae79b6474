"""Tests for `keras_vae.datasets.load` (digits offline; MNIST with a prepared TFDS dir)."""

import re
import sys

import numpy as np
import pytest

from keras_vae import datasets
from keras_vae import testing
from keras_vae.datasets import tfds_source

load_module = sys.modules["keras_vae.datasets.load"]


def digits_oracle():
    """Independent recomputation of the digits splits as raw values 0..16."""
    from sklearn.datasets import load_digits

    images = load_digits().images
    order = np.random.RandomState(0).permutation(len(images))
    return {
        "train": images[order[:1297]],
        "validation": images[order[1297:1497]],
        "test": images[order[1497:]],
    }


def as_array(dataset):
    return np.concatenate([np.asarray(x) for x in dataset], axis=0)


# ---------------------------------------------------------------- digits


def test_available():
    assert datasets.available() == ("binarized_mnist", "digits", "mnist")


@pytest.mark.parametrize(
    "split, size", [("train", 1297), ("validation", 200), ("valid", 200), ("test", 300)]
)
def test_digits_shapes_sizes_and_values(split, size):
    x = datasets.load("digits", split, binarization=None, as_numpy=True)
    assert x.dtype == np.float32
    assert x.shape == (size, 8, 8, 1)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.rint(x * 16))  # values k / 16
    oracle = digits_oracle()["validation" if split == "valid" else split]
    np.testing.assert_allclose(x[..., 0], oracle / 16.0, rtol=0, atol=1e-7)


def test_digits_splits_are_disjoint_and_cover_everything():
    parts = [
        datasets.load("digits", s, binarization=None, as_numpy=True, flatten=True)
        for s in ("train", "validation", "test")
    ]
    rows = {row.tobytes() for part in parts for row in part}
    from sklearn.datasets import load_digits

    everything = {(r / 16.0).astype(np.float32).tobytes() for r in load_digits().data}
    assert rows == everything


def test_unbatched_dataset_matches_numpy_without_shuffle():
    ds = datasets.load("digits", "validation", binarization=None)
    assert ds.element_spec.shape == (8, 8, 1)
    x = np.stack([np.asarray(e) for e in ds])
    np.testing.assert_array_equal(
        x, datasets.load("digits", "validation", binarization=None, as_numpy=True)
    )


def test_flatten():
    ds = datasets.load("digits", "test", binarization=None, flatten=True)
    assert ds.element_spec.shape == (64,)
    ds = datasets.load("digits", "test", binarization=None, flatten=True, batch_size=7)
    assert ds.element_spec.shape.as_list() == [None, 64]
    flat = as_array(ds)
    image = datasets.load("digits", "test", binarization=None, as_numpy=True)
    np.testing.assert_array_equal(flat, image.reshape(300, 64))
    flat_np = datasets.load("digits", "test", binarization=None, as_numpy=True, flatten=True)
    assert flat_np.shape == (300, 64)


def test_batching_keeps_the_remainder():
    ds = datasets.load("digits", "train", binarization=None, batch_size=500)
    sizes = [int(x.shape[0]) for x in ds]
    assert sizes == [500, 500, 297]
    assert ds.element_spec.dtype.name == "float32"


def test_train_is_shuffled_each_epoch_reproducibly_others_are_not():
    raw = datasets.load("digits", "train", binarization=None, as_numpy=True)
    ds = datasets.load("digits", "train", binarization=None, batch_size=1297)
    first, second = as_array(ds), as_array(ds)
    assert not np.array_equal(first, raw)
    assert not np.array_equal(first, second)
    # same multiset of images
    key = lambda a: sorted(r.tobytes() for r in a)  # noqa: E731
    assert key(first) == key(raw) == key(second)
    again = datasets.load("digits", "train", binarization=None, batch_size=1297)
    np.testing.assert_array_equal(as_array(again), first)
    other = datasets.load("digits", "train", binarization=None, batch_size=1297, seed=1)
    assert not np.array_equal(as_array(other), first)
    test = datasets.load("digits", "test", binarization=None, batch_size=300)
    np.testing.assert_array_equal(
        as_array(test),
        datasets.load("digits", "test", binarization=None, as_numpy=True),
    )


# ---------------------------------------------------------------- binarization


def test_static_binarization_is_deterministic_binary_and_seeded_777():
    a = datasets.load("digits", "test", binarization="static", as_numpy=True)
    b = datasets.load("digits", "test", as_numpy=True)  # "auto" -> static for test
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a).tolist()) == {0.0, 1.0}
    intensities = digits_oracle()["test"][..., None] / 16.0
    expected = np.random.RandomState(777).uniform(size=intensities.shape) < intensities
    np.testing.assert_array_equal(a, expected.astype(np.float32))
    ds = as_array(datasets.load("digits", "test", batch_size=64))
    np.testing.assert_array_equal(ds, a)
    # a static pass repeats exactly
    stream = datasets.load("digits", "test", binarization="static", batch_size=300)
    np.testing.assert_array_equal(as_array(stream), as_array(stream))


def test_dynamic_binarization_differs_per_epoch_and_matches_intensities():
    intensities = datasets.load("digits", "train", binarization=None, as_numpy=True)
    ds = datasets.load("digits", "train", binarization="dynamic", shuffle=False, batch_size=1297)
    first, second = as_array(ds), as_array(ds)
    assert set(np.unique(first).tolist()) == {0.0, 1.0}
    assert not np.array_equal(first, second)
    # fraction of differing pixels ~ mean of 2 p (1 - p)
    expected_diff = np.mean(2 * intensities * (1 - intensities))
    assert abs(np.mean(first != second) - expected_diff) < 0.01
    # `repeat` starts a new pass of the pipeline each time, like a new epoch
    passes = 400
    mean = as_array(ds.repeat(passes)).reshape(passes, *intensities.shape).mean(0)
    err = np.abs(mean - intensities)
    # per-pixel std of the mean <= 0.5 / sqrt(400) = 0.025
    assert err.max() < 0.15
    assert err.mean() < 0.02
    np.testing.assert_array_equal(mean[intensities == 0], 0.0)
    np.testing.assert_array_equal(mean[intensities == 1], 1.0)


def test_dynamic_binarization_is_reproducible_from_seed():
    def epochs(seed):
        ds = datasets.load("digits", "train", batch_size=256, seed=seed)
        return as_array(ds), as_array(ds)

    a, b, c = epochs(3), epochs(3), epochs(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_auto_on_train_is_dynamic():
    ds = datasets.load("digits", "train", shuffle=False, batch_size=1297)
    first, second = as_array(ds), as_array(ds)
    assert set(np.unique(first).tolist()) == {0.0, 1.0}
    assert not np.array_equal(first, second)


# ---------------------------------------------------------------- errors


def test_unknown_name():
    with pytest.raises(ValueError, match=r"`name`.*Received: name='foo'"):
        datasets.load("foo", "train")


@pytest.mark.parametrize("split", ["training", "TRAIN", None])
def test_unknown_split(split):
    with pytest.raises(ValueError, match=rf"`split`.*Received: split={split!r}"):
        datasets.load("digits", split)


@pytest.mark.parametrize("binarization", ["Dynamic", "bernoulli", True, 0.5])
def test_bad_binarization(binarization):
    with pytest.raises(ValueError, match="`binarization`.*Received: binarization="):
        datasets.load("digits", "train", binarization=binarization)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "32"])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="`batch_size` to be a positive integer"):
        datasets.load("digits", "train", batch_size=batch_size)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="`seed`"):
        datasets.load("digits", "train", seed=seed)


def test_as_numpy_rejects_dynamic_batch_and_shuffle():
    with pytest.raises(ValueError, match="dynamic.*auto"):
        datasets.load("digits", "train", as_numpy=True)
    with pytest.raises(ValueError, match="tf.data stream"):
        datasets.load("digits", "test", binarization="dynamic", as_numpy=True)
    with pytest.raises(ValueError, match="batch_size=8"):
        datasets.load("digits", "test", as_numpy=True, batch_size=8)
    with pytest.raises(ValueError, match="shuffle=True"):
        datasets.load("digits", "test", as_numpy=True, shuffle=True)


@pytest.mark.parametrize("binarization", ["dynamic", "static"])
def test_binarized_mnist_rejects_rebinarization(binarization, tmp_path):
    with pytest.raises(ValueError, match="already statically binarized"):
        datasets.load(
            "binarized_mnist",
            "train",
            binarization=binarization,
            data_dir=tmp_path,
            download=False,
        )


@pytest.mark.parametrize("name", ["mnist", "binarized_mnist"])
@pytest.mark.parametrize("subdir", ["", "does/not/exist"])
def test_missing_offline_data(name, subdir, tmp_path):
    data_dir = tmp_path / subdir
    with pytest.raises(FileNotFoundError) as info:
        datasets.load(name, "test", data_dir=data_dir, download=False)
    message = str(info.value)
    assert repr(name) in message
    assert str(data_dir) in message
    assert "TFDS_DATA_DIR" in message and "download=True" in message
    assert list(tmp_path.iterdir()) == []  # nothing created in the data dir


def test_data_dir_from_environment(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("KERAS_VAE_DATA_DIR", str(first))
    monkeypatch.setenv("TFDS_DATA_DIR", str(second))
    assert tfds_source.resolve_data_dir(None) == str(first)
    assert tfds_source.resolve_data_dir(tmp_path) == str(tmp_path)
    monkeypatch.delenv("KERAS_VAE_DATA_DIR")
    assert tfds_source.resolve_data_dir(None) == str(second)
    with pytest.raises(FileNotFoundError, match=re.escape(str(second))):
        datasets.load("mnist", "test", download=False)
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert tfds_source.resolve_data_dir(None) is None


def test_failed_download_is_wrapped(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_network(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds, "load", no_network)
    with pytest.raises(RuntimeError) as info:
        datasets.load("mnist", "test", data_dir=tmp_path, download=True)
    message = str(info.value)
    assert "Offline" in message and str(tmp_path) in message
    assert "no route to host" in message
    assert isinstance(info.value.__cause__, ConnectionError)


def test_split_is_read_once_and_cached(monkeypatch):
    calls = []
    fake = np.arange(10000 * 4, dtype=np.uint8).reshape(10000, 2, 2, 1)
    fake_labels = np.arange(10000) % 7

    def fake_read(name, split, data_dir=None, download=True, labels=False):
        calls.append((name, split, data_dir))
        assert labels  # MNIST's labels come in the same pass as its images
        return fake, fake_labels

    monkeypatch.setattr(tfds_source, "read_split", fake_read)
    monkeypatch.setattr(load_module, "_CACHE", {})
    a = datasets.load("mnist", "test", binarization=None, data_dir="/x", as_numpy=True)
    b = datasets.load("mnist", "test", binarization=None, data_dir="/x", as_numpy=True)
    datasets.load("mnist", "test", binarization=None, data_dir="/y", as_numpy=True)
    assert calls == [("mnist", "test", "/x"), ("mnist", "test", "/y")]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, fake / np.float32(255))
    assert a.dtype == np.float32
    _, y = datasets.load(
        "mnist", "test", binarization=None, data_dir="/x", as_numpy=True, labels=True
    )
    np.testing.assert_array_equal(y, fake_labels)
    assert len(calls) == 2  # the labels were read with the images


# ---------------------------------------------------------------- real TFDS data


REAL_DATA_DIR = testing.prepared_tfds_dir("mnist", "binarized_mnist")
needs_real_data = testing.requires_tfds("mnist", "binarized_mnist")


@needs_real_data
def test_mnist_splits():
    import tensorflow_datasets as tfds

    kwargs = dict(data_dir=REAL_DATA_DIR, download=False, binarization=None, as_numpy=True)
    train = datasets.load("mnist", "train", **kwargs)
    valid = datasets.load("mnist", "valid", **kwargs)
    test = datasets.load("mnist", "test", **kwargs)
    assert train.shape == (50000, 28, 28, 1)
    assert valid.shape == (10000, 28, 28, 1) and test.shape == (10000, 28, 28, 1)
    for x in (train, valid, test):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    # validation = last 10,000 of the TFDS train split, train = the first 50,000
    for tfds_split, ours in (
        ("train[:200]", train[:200]),
        ("train[49800:50000]", train[-200:]),
        ("train[50000:50200]", valid[:200]),
        ("train[59800:]", valid[-200:]),
    ):
        ref = tfds.load(
            "mnist",
            split=tfds_split,
            data_dir=REAL_DATA_DIR,
            download=False,
            batch_size=-1,
        )
        ref = tfds.as_numpy(ref)["image"]
        np.testing.assert_array_equal(ours, ref.astype(np.float32) / np.float32(255))
    # static binarization of validation (auto): binary, seeded 777
    static = datasets.load(
        "mnist",
        "validation",
        data_dir=REAL_DATA_DIR,
        download=False,
        as_numpy=True,
        flatten=True,
    )
    assert static.shape == (10000, 784)
    expected = np.random.RandomState(777).uniform(size=valid.shape) < (np.rint(valid * 255) / 255.0)
    np.testing.assert_array_equal(static, expected.reshape(10000, 784))
    # default train stream: dynamically binarized batches
    batch = next(
        iter(
            datasets.load(
                "mnist",
                "train",
                data_dir=REAL_DATA_DIR,
                download=False,
                batch_size=1000,
            )
        )
    )
    assert batch.shape == (1000, 28, 28, 1)
    assert set(np.unique(batch.numpy()).tolist()) == {0.0, 1.0}


@needs_real_data
def test_binarized_mnist_splits():
    ones = {"train": 5118041, "validation": 1028036, "test": 1038896}
    sizes = {"train": 50000, "validation": 10000, "test": 10000}
    for split in ("train", "validation", "test"):
        x = datasets.load(
            "binarized_mnist",
            split,
            data_dir=REAL_DATA_DIR,
            download=False,
            as_numpy=True,
            flatten=True,
        )
        assert x.shape == (sizes[split], 784) and x.dtype == np.float32
        assert set(np.unique(x).tolist()) == {0.0, 1.0}
        assert int(x.sum()) == ones[split]  # counts of the original .amat files
    raw = datasets.load(
        "binarized_mnist",
        "test",
        binarization=None,
        data_dir=REAL_DATA_DIR,
        download=False,
        as_numpy=True,
    )
    stream = datasets.load(
        "binarized_mnist",
        "test",
        data_dir=REAL_DATA_DIR,
        download=False,
        batch_size=4096,
    )
    np.testing.assert_array_equal(as_array(stream), raw)
