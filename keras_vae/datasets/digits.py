"""scikit-learn's bundled 8x8 digits, split train/validation/test offline."""

import numpy as np

NUM_EXAMPLES = 1797
SPLIT_SIZES = {"train": 1297, "validation": 200, "test": 300}
PERMUTATION_SEED = 0
MAX_VALUE = 16


def read_digits(split, labels=False):
    """Return one split of the 8x8 digits as a `uint8` array in 0..16.

    The 1,797 images of `sklearn.datasets.load_digits` are permuted once with
    `np.random.RandomState(0).permutation(1797)`; the first 1,297 form
    `"train"`, the next 200 `"validation"` and the last 300 `"test"`. The data
    ships inside scikit-learn, so this works without network or data dir.

    Args:
        split: one of `"train"`, `"validation"`, `"test"`.
        labels: also return the digits (`load_digits().target`, 0..9).

    Returns:
        A `uint8` array of shape `(N, 8, 8, 1)` with values 0..16; with
        `labels=True`, the pair of it and the labels, shape `(N,)`.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on environment
        raise ImportError(
            "The 'digits' dataset needs scikit-learn, which bundles it. "
            "Install it with `pip install scikit-learn`."
        ) from error
    bunch = load_digits()
    images = bunch.images
    if images.shape != (NUM_EXAMPLES, 8, 8):
        raise RuntimeError(
            f"Expected sklearn.datasets.load_digits() to hold {NUM_EXAMPLES} "
            f"images of 8x8. Received: images of shape {images.shape}."
        )
    order = np.random.RandomState(PERMUTATION_SEED).permutation(NUM_EXAMPLES)
    start = 0
    for name in ("train", "validation", "test"):
        stop = start + SPLIT_SIZES[name]
        if name == split:
            picked = order[start:stop]
            x = np.rint(images[picked]).astype(np.uint8)[..., np.newaxis]
            return (x, bunch.target[picked]) if labels else x
        start = stop
    raise ValueError(
        f"Expected `split` to be one of {sorted(SPLIT_SIZES)}. Received: split={split!r}"
    )
