"""`keras_vae.datasets.load`: image datasets for VAEs as `tf.data` or numpy."""

import collections

import numpy as np

from keras_vae.datasets import binarization as binarization_lib
from keras_vae.datasets import digits as digits_lib
from keras_vae.datasets import idx_source
from keras_vae.datasets import pass_keys as pass_keys_lib
from keras_vae.datasets import tfds_source
from keras_vae.utils.optional_tensorflow import import_tensorflow
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_optional_positive_int

# source: "tfds" or "sklearn". splits: our split -> (source split, start, stop).
# scale: stored integer value of full intensity. sizes: source split lengths.
# labels: whether the source holds a class label per image.
_Spec = collections.namedtuple("_Spec", "source splits scale binary source_sizes labels")

_SPECS = {
    "mnist": _Spec(
        source="tfds",
        splits={
            "train": ("train", 0, 50000),
            "validation": ("train", 50000, 60000),
            "test": ("test", 0, 10000),
        },
        scale=255,
        binary=False,
        source_sizes={"train": 60000, "test": 10000},
        labels=True,
    ),
    "binarized_mnist": _Spec(
        source="tfds",
        splits={
            "train": ("train", 0, 50000),
            "validation": ("validation", 0, 10000),
            "test": ("test", 0, 10000),
        },
        scale=1,
        binary=True,
        source_sizes={"train": 50000, "validation": 10000, "test": 10000},
        labels=False,
    ),
    "digits": _Spec(
        source="sklearn",
        splits={
            "train": ("train", 0, 1297),
            "validation": ("validation", 0, 200),
            "test": ("test", 0, 300),
        },
        scale=digits_lib.MAX_VALUE,
        binary=False,
        source_sizes=digits_lib.SPLIT_SIZES,
        labels=True,
    ),
}

_SPLIT_ALIASES = {"valid": "validation"}
_BINARIZATIONS = ("auto", "dynamic", "static", None)

# (name, data_dir, source split) -> {"images": uint8 (N, H, W, 1),
# "labels": int32 (N,)}, each read once (the labels when first asked for).
_CACHE = {}

# What a stream (`as_numpy=False`) needs TensorFlow for, in its error.
_STREAM = (
    "keras_vae.datasets.load(..., as_numpy=False), a tf.data stream (with "
    "as_numpy=True, 'digits' and the IDX files of 'mnist' load as numpy "
    "arrays without TensorFlow),"
)


def available():
    """Return the names accepted by `keras_vae.datasets.load`.

    Returns:
        A sorted tuple of dataset names.

    Example:

    >>> keras_vae.datasets.available()
    ('binarized_mnist', 'digits', 'mnist')
    """
    return tuple(sorted(_SPECS))


def _read_parts(name, spec, source_split, data_dir, download, parts):
    """`{part: array}` for the `parts` ("images", "labels") asked for, or more."""
    idx_dir = idx_source.find_idx_dir(data_dir) if name == "mnist" else None
    if idx_dir is not None:  # one file per part: read only those asked for
        return {
            p: idx_source.read_split(idx_dir, source_split, labels=p == "labels") for p in parts
        }
    if spec.source == "tfds":
        if not spec.labels:
            return {"images": tfds_source.read_split(name, source_split, data_dir, download)}
        # The labels come in the same decoding pass as the images: keep both.
        images, labels = tfds_source.read_split(name, source_split, data_dir, download, labels=True)
        return {"images": images, "labels": labels}
    images, labels = digits_lib.read_digits(source_split, labels=True)
    return {"images": images, "labels": labels}


def _read_source(name, spec, source_split, data_dir, download, labels):
    """A source split's `uint8` images and `int32` labels (`None` unless `labels`)."""
    key = (name, data_dir if spec.source == "tfds" else None, source_split)
    cached = _CACHE.setdefault(key, {})
    missing = [p for p in (("images", "labels") if labels else ("images",)) if p not in cached]
    if missing:
        read = _read_parts(name, spec, source_split, data_dir, download, missing)
        expected = spec.source_sizes[source_split]
        for part, array in read.items():
            if array.shape[0] != expected:
                raise RuntimeError(
                    f"Expected split {source_split!r} of dataset {name!r} to hold "
                    f"{expected} {part}. Received: {array.shape[0]} {part} "
                    f"(data_dir={data_dir!r}). The data directory may be "
                    "incomplete or hold another version; prepare it again."
                )
        if "labels" in read:
            read["labels"] = read["labels"].astype(np.int32)
        cached.update(read)
    return cached["images"], cached["labels"] if labels else None


def _resolve_binarization(name, spec, split, binarization):
    if binarization not in _BINARIZATIONS:
        raise ValueError(
            "Expected `binarization` to be one of 'auto', 'dynamic', 'static' "
            f"or None. Received: binarization={binarization!r}"
        )
    if spec.binary:
        if binarization in ("dynamic", "static"):
            raise ValueError(
                f"Dataset {name!r} is already statically binarized (the fixed "
                "binarization of Larochelle & Murray, 2011), so it cannot be "
                "binarized again. Pass binarization='auto' or None. "
                f"Received: binarization={binarization!r}"
            )
        return None
    if binarization == "auto":
        return "dynamic" if split == "train" else "static"
    return binarization


def load(
    name,
    split,
    binarization="auto",
    data_dir=None,
    batch_size=None,
    shuffle=None,
    seed=0,
    flatten=False,
    download=True,
    as_numpy=False,
    labels=False,
):
    """Load an image dataset for a VAE, with or without its labels.

    Images are `float32` in [0, 1] of shape `(H, W, 1)`, or `(H * W,)` with
    `flatten=True`. Each split is read into memory once per process (cached
    per dataset, data dir and split) and served by a `tf.data` pipeline
    that gathers each batch from it. With `labels=True` every image comes
    with its class, an `int32` in 0..9 (the digit), for conditional models:
    `(x, y)` arrays with `as_numpy=True`, else a stream of `(x, y)` elements
    or batches whose `y` follows `x` through the shuffling.

    Datasets (see `keras_vae.datasets.available()`):

    - `"mnist"`: TFDS `mnist`, intensities `pixel / 255`. `"train"` is the
      first 50,000 and `"validation"` the last 10,000 examples of the TFDS
      train split, in TFDS order; `"test"` is the TFDS test split (10,000).
      TFDS stores examples in a hash-shuffled order, so this validation set
      is a fixed 10,000 of the 60,000 training images, but not the same ones
      as the "last 10,000 of the original MNIST file" of some papers.
      When the data dir (or its `mnist/` subdirectory) holds the four
      original IDX files of LeCun et al. (`train-images-idx3-ubyte.gz`,
      ..., gzipped or not), they are read instead of TFDS, in file order:
      `"train"` is then the first 50,000 and `"validation"` the last
      10,000 images of the original training file, `"test"` the original
      test file; the labels come from the matching `*-labels-idx1-ubyte`
      files. Neither this nor `as_numpy=True` needs TensorFlow.
    - `"binarized_mnist"`: TFDS `binarized_mnist`, the fixed binarization of
      Larochelle & Murray (2011); train 50,000 / validation 10,000 / test
      10,000, already in {0, 1}. It has no labels.
    - `"digits"`: the 8x8 digits bundled with scikit-learn
      (`sklearn.datasets.load_digits`), intensities `value / 16`, permuted
      with seed 0 into train 1,297 / validation 200 / test 300; labels
      `load_digits().target`. Needs no data dir, no network and, with
      `as_numpy=True`, no TensorFlow.

    Binarization, for the non-binary datasets:

    ```none
    "dynamic": x ~ Bernoulli(intensity), drawn afresh on every pass (epoch)
               inside tf.data, from the pass's key (below).
    "static":  x = 1[u < intensity], u = RandomState(777).uniform(size=shape),
               drawn once over the whole split (N, H, W, 1) in split order.
    None:      raw intensities.
    "auto":    "dynamic" for "train", "static" for "validation" and "test";
               nothing for "binarized_mnist".
    ```

    Passes, epochs and resuming. The order of a shuffled stream and its
    dynamic binarization noise are a pure function of `seed` and the key of
    the pass (one iteration over the dataset), drawn with stateless ops
    (`tf.random.experimental.stateless_shuffle`,
    `tf.random.stateless_uniform`, Philox) and nothing else: not
    TensorFlow's global seed, not the iterator's history.

    ```none
    key(pass)     = fold_in(fold_in([seed, 0x5EED], base), count)
    order(pass)   = stateless_shuffle(range(N), fold_in(key, 0))
    noise(pass,i) = stateless_uniform(shape of batch i, [fold_in(key, 1)[0], i])
                    (unbatched streams: chunk i of 256 examples)
    x             = 1[noise < intensity]
    ```

    Each pass is a fresh uniform permutation with fresh noise, and different
    seeds give different streams. `base` and `count` are two int64
    variables of the stream; a pass reads them when it produces its first
    element. Outside `fit`, `base` is -1 and `count` numbers the passes in
    the order they start (`for x in ds` twice, `ds.repeat()`), so a newly
    loaded stream repeats the same sequence of passes. Under `fit`, the
    callback `keras_vae.callbacks.SeedDatasetEpochs(stream)` sets, at the
    start of every epoch, `base` to the model's step count
    (`model.optimizer.iterations`) and `count` to 0. Keras creates each
    epoch's iterator after that, so the epoch's data are a function of
    `(seed, steps taken)`: `keras.callbacks.BackupAndRestore` restores the
    step count with the weights, and an interrupted and resumed `fit` ends
    bit-identical to an uninterrupted one (given a model whose own state is
    restored, as keras_vae models' is). Successive `fit` calls get new data
    (the step count goes on when the epoch index restarts at 0). A keras_vae
    model's `fit` adds the callback itself when `x` is such a stream; add
    it to any other model (its docstring shows how).

    Validation. A stream with randomness (`shuffle=True` or dynamic
    binarization) given to `fit` as `validation_data` is keyed by
    `SeedDatasetEpochs(x, validation_data=stream)`, which keras_vae models'
    `fit` adds by itself: before every validation run it sets `base` to -2
    and `count` to 0, so every validation pass of a `fit` is the pass keyed
    `(seed, -2, 0)`, the same at every epoch and a function of `seed` only.
    The validation data then stay fixed, as a validation set should: the
    epochs' metrics compare the model, not the draws (early stopping,
    `ModelCheckpoint(save_best_only=True)`), and a resumed `fit` logs the
    validation metrics of an uninterrupted one. (Dynamic binarization of a
    validation stream is then one binarization seeded by `seed`.) Streams
    without randomness, such as the `"auto"` static validation and test
    streams, need no key.

    With `steps_per_epoch` over a repeated stream, passes straddle epochs:
    each still gets its own key, but a resumed run does not see the passes
    of an uninterrupted one. Keras's `shuffle` argument does nothing to a
    dataset: the stream shuffles itself.

    The data dir is, in order: `data_dir`, the environment variable
    `KERAS_VAE_DATA_DIR`, `TFDS_DATA_DIR`, then TFDS's default.

    Args:
        name: dataset name, one of `keras_vae.datasets.available()`.
        split: `"train"`, `"validation"` (alias `"valid"`) or `"test"`.
        binarization: `"auto"`, `"dynamic"`, `"static"` or `None`.
            Defaults to `"auto"`.
        data_dir: TFDS data directory (path), a directory of MNIST's IDX
            files (for `"mnist"`), or `None`; see above.
        batch_size: positive integer, or `None` for unbatched elements.
            Batches keep the last, smaller batch (`drop_remainder=False`).
        shuffle: whether to shuffle the whole split, differently on every
            pass (see above). Defaults to `True` for `"train"`, `False`
            otherwise.
        seed: non-negative integer seeding the shuffle and the dynamic
            binarization (see above). Defaults to 0.
        flatten: whether to return images as vectors of length `H * W`.
        download: whether TFDS may download a dataset missing from the data
            dir. With `False`, a missing dataset raises `FileNotFoundError`.
        as_numpy: return the whole split as one `float32` numpy array of shape
            `(N, H, W, 1)` (or `(N, H * W)`) instead of a dataset. Incompatible
            with dynamic binarization, `batch_size` and `shuffle=True`.
        labels: whether to return each image's class with it, `int32` in
            0..9, for `"digits"` and `"mnist"`. Defaults to `False`.

    Returns:
        A `tf.data.Dataset` of `float32` images (prefetched, of known
        cardinality), or a numpy array when `as_numpy=True`. With
        `labels=True`: a dataset of `(images, labels)` pairs, or the tuple
        `(x, y)` of a `float32` array and an `int32` array of shape `(N,)`.

    Raises:
        ValueError: for an unknown `name`, `split` or `binarization`, a bad
            `batch_size`, `seed` or `labels`, `labels=True` for a dataset
            without labels, or an option that does not fit the data.
        FileNotFoundError: when `download=False` and the TFDS dataset is not
            prepared in the data dir, or an IDX file is missing.
        RuntimeError: when TFDS fails to download and prepare a dataset.
        ImportError: for a stream (`as_numpy=False`) or a TFDS dataset
            without TensorFlow installed.

    Example:

    >>> train = keras_vae.datasets.load("digits", "train", batch_size=128)
    >>> x = next(iter(train))
    >>> x.shape
    TensorShape([128, 8, 8, 1])
    >>> test = keras_vae.datasets.load("digits", "test", as_numpy=True)
    >>> test.shape
    (300, 8, 8, 1)
    >>> x, y = keras_vae.datasets.load("digits", "test", as_numpy=True, labels=True)
    >>> x.shape, y.shape, y.dtype.name, sorted(set(y.tolist()))
    ((300, 8, 8, 1), (300,), 'int32', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> pairs = keras_vae.datasets.load("digits", "train", batch_size=128, labels=True)
    >>> [tuple(t.shape) for t in next(iter(pairs))]
    [(128, 8, 8, 1), (128,)]

    Reference:
    - [Larochelle & Murray, 2011](https://proceedings.mlr.press/v15/larochelle11a.html)
    - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
    """
    check_one_of(name, "name", list(_SPECS))
    spec = _SPECS[name]
    split = _SPLIT_ALIASES.get(split, split) if isinstance(split, str) else split
    check_one_of(split, "split", list(spec.splits) + list(_SPLIT_ALIASES))
    mode = _resolve_binarization(name, spec, split, binarization)
    batch_size = check_optional_positive_int(batch_size, "batch_size")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative integer. Received: seed={seed!r}")
    seed = int(seed)
    if not isinstance(labels, (bool, np.bool_)):
        raise ValueError(f"Expected `labels` to be True or False. Received: labels={labels!r}")
    if labels and not spec.labels:
        raise ValueError(
            f"Dataset {name!r} has no labels: TFDS stores its images only. "
            "For labelled binary images, load 'mnist' with "
            "binarization='static' (or 'dynamic') and labels=True. Received: "
            f"name={name!r}, labels=True"
        )
    if shuffle is None:
        shuffle = split == "train" and not as_numpy
    if as_numpy:
        if mode == "dynamic":
            how = " (what binarization='auto' means for split='train')"
            raise ValueError(
                f"binarization='dynamic'{how if binarization == 'auto' else ''} "
                "draws a new sample on every pass over the data, so it needs "
                "a tf.data stream, not a fixed array. Pass as_numpy=False, or "
                "binarization='static' or None. Received: "
                f"binarization={binarization!r}, as_numpy=True"
            )
        if batch_size is not None or shuffle:
            raise ValueError(
                "`as_numpy=True` returns the whole split in order; it takes "
                "neither `batch_size` nor `shuffle=True`. Received: "
                f"batch_size={batch_size!r}, shuffle={shuffle!r}"
            )
    else:
        import_tensorflow(_STREAM)  # before reading any data

    if spec.source == "tfds":
        data_dir = tfds_source.resolve_data_dir(data_dir)
    source_split, start, stop = spec.splits[split]
    images, targets = _read_source(name, spec, source_split, data_dir, download, labels)
    images = images[start:stop]
    targets = None if targets is None else targets[start:stop]
    scale = spec.scale
    if mode == "static":
        images = binarization_lib.binarize_static(images / float(scale))
        scale = 1

    if as_numpy:
        x = images.astype(np.float32) / np.float32(scale)
        x = x.reshape(x.shape[0], -1) if flatten else x
        return (x, targets.copy()) if labels else x
    return _build_dataset(images, targets, scale, mode, batch_size, shuffle, seed, flatten)


# Unbatched streams are made in chunks of this many examples, then unbatched:
# the gather and the noise run once per chunk, not once per example.
_CHUNK = 256


def _build_dataset(images, targets, scale, mode, batch_size, shuffle, seed, flatten):
    """Serve a `uint8` array (and `int32` labels, or `None`) as a tf.data
    pipeline of float32 images (or `(images, labels)` pairs); see `load`."""
    tf = import_tensorflow(_STREAM)
    num_examples = images.shape[0]
    num_pixels = int(np.prod(images.shape[1:3]))
    keys = pass_keys_lib.PassKeys(seed) if shuffle or mode == "dynamic" else None
    data = tf.constant(images)
    classes = None if targets is None else tf.constant(targets)

    def one_pass(key):
        """One pass: the order of the indices, then gathered batches of images."""
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(num_examples, dtype=tf.int64),
                seed=pass_keys_lib.fold_in(key, pass_keys_lib.ORDER),
                alg=pass_keys_lib.ALGORITHM,
            )
            indices = tf.data.Dataset.from_tensor_slices(order)
        else:
            indices = tf.data.Dataset.range(num_examples)
        indices = indices.batch(batch_size or _CHUNK, drop_remainder=False)
        if mode == "dynamic":
            # The noise of batch (chunk) i of the pass has the stateless seed
            # [h, i], h = fold_in(key, NOISE)[0]: what fold_in(.., i) gives,
            # with the hash drawn once per pass.
            noise_word = pass_keys_lib.fold_in(key, pass_keys_lib.NOISE)[0]

        def to_images(position, index):
            x = tf.cast(tf.gather(data, index), tf.float32) / tf.constant(scale, tf.float32)
            if flatten:
                x = tf.reshape(x, [-1, num_pixels])
            if mode == "dynamic":
                x = binarization_lib.binarize_stateless(x, tf.stack([noise_word, position]))
            return x if classes is None else (x, tf.gather(classes, index))

        return indices.enumerate().map(to_images, num_parallel_calls=tf.data.AUTOTUNE)

    if keys is None:
        dataset = one_pass(None)
    else:
        # One outer element per pass: its key is drawn when the pass starts.
        dataset = tf.data.Dataset.range(1).flat_map(lambda _: one_pass(keys.next_key()))
    if batch_size is None:
        dataset = dataset.unbatch()
    size = num_examples if batch_size is None else -(-num_examples // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(size))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return pass_keys_lib.attach(dataset, keys)
