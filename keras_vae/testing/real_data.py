"""Where the tests find real data, offline: from environment variables only.

Package code holds no path of a checkout. The locations come from the
environment (the test suite's `tests/conftest.py` fills them in from
`../shared/` beside the checkout when they are unset and that exists):

- `KERAS_VAE_DATA_DIR`, then `TFDS_DATA_DIR`: a prepared TFDS data dir
  (what `keras_vae.datasets.load` reads);
- `KERAS_VAE_RAW_DATA_DIR`: a directory of raw files, `mnist/` holding the
  four original idx files and `freyfaces/freyfaces.npz`.
"""

import os
from pathlib import Path

# TFDS versions of the datasets that `keras_vae.datasets.load` reads.
VERSIONS = {"mnist": "3.0.1", "binarized_mnist": "1.0.0"}

# Environment variables naming a prepared TFDS data dir, searched in order.
TFDS_DIR_ENV_VARS = ("KERAS_VAE_DATA_DIR", "TFDS_DATA_DIR")

# Environment variable naming the directory of raw data files.
RAW_DIR_ENV_VAR = "KERAS_VAE_RAW_DATA_DIR"


def prepared_tfds_dir(*names):
    """The first data dir that holds every dataset in `names`, or `None`.

    Candidates, in order: `KERAS_VAE_DATA_DIR`, then `TFDS_DATA_DIR`. A
    dataset counts as prepared when `<dir>/<name>/<version>/dataset_info.json`
    exists. Tests that need real data skip when this returns `None` (fail in
    CI: see `requires_tfds`).

    Example:

    >>> data_dir = keras_vae.testing.prepared_tfds_dir("mnist")
    """
    for var in TFDS_DIR_ENV_VARS:
        candidate = os.environ.get(var)
        if candidate and all(
            (Path(candidate) / name / VERSIONS[name] / "dataset_info.json").exists()
            for name in names
        ):
            return str(candidate)
    return None


def raw_data_dir():
    """The raw data directory named by `KERAS_VAE_RAW_DATA_DIR`, or `None`.

    Returns:
        A `pathlib.Path` to an existing directory, or `None` when the
        variable is unset or names no directory.
    """
    value = os.environ.get(RAW_DIR_ENV_VAR)
    return Path(value) if value and Path(value).is_dir() else None


def in_ci():
    """Whether the `CI` environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def requires_data(available, reason):
    """A pytest mark for a test that needs data: skip locally, fail in CI.

    Where `available` is false, outside CI (`CI` unset or false) the test
    skips with `reason`; in CI (`CI=true`) it is marked `missing_data`, which
    the suite's `conftest.py` turns into a failure at setup, so a CI run
    whose prepared data went missing cannot pass by skipping the tests that
    need it.

    Args:
        available: Whether the data is there.
        reason: What is missing and how to provide it.
    """
    import pytest

    if available:
        return pytest.mark.skipif(False, reason=reason)
    if in_ci():
        return pytest.mark.missing_data(reason=f"CI=true but {reason}")
    return pytest.mark.skipif(True, reason=reason)


def fail_on_missing_data(item):
    """`pytest_runtest_setup` body: fail a test marked `missing_data`."""
    import pytest

    mark = item.get_closest_marker("missing_data")
    if mark is not None:
        pytest.fail(mark.kwargs["reason"], pytrace=False)


def requires_tfds(*names):
    """A pytest mark for tests that need `prepared_tfds_dir(*names)`.

    Skips when the data dir is missing, except in CI (`CI=true`), where a
    missing prepared data dir fails the test (see `requires_data`).
    """
    wanted = ", ".join(f"{n}/{VERSIONS[n]}" for n in names)
    return requires_data(
        prepared_tfds_dir(*names) is not None,
        reason=f"no prepared TFDS {wanted} (set KERAS_VAE_DATA_DIR or "
        "TFDS_DATA_DIR to a prepared TFDS data dir)",
    )
