"""Where the tests and examples find a prepared TFDS data dir, offline."""

import os
from pathlib import Path

# TFDS versions of the datasets that `keras_vae.datasets.load` reads.
VERSIONS = {"mnist": "3.0.1", "binarized_mnist": "1.0.0"}


def prepared_tfds_dir(*names):
    """The first data dir that holds every dataset in `names`, or `None`.

    Candidates, in order: `KERAS_VAE_DATA_DIR`, `TFDS_DATA_DIR`, then
    `../shared/tfds` beside the checkout. A dataset counts as prepared when
    `<dir>/<name>/<version>/dataset_info.json` exists. Tests that need real
    data skip when this returns `None`.

    Example:

    >>> data_dir = keras_vae.testing.prepared_tfds_dir("mnist")
    """
    candidates = (
        os.environ.get("KERAS_VAE_DATA_DIR"),
        os.environ.get("TFDS_DATA_DIR"),
        Path(__file__).resolve().parents[2].parent / "shared" / "tfds",
    )
    for candidate in candidates:
        if candidate and all(
            (Path(candidate) / name / VERSIONS[name] / "dataset_info.json").exists()
            for name in names
        ):
            return str(candidate)
    return None


def requires_tfds(*names):
    """A pytest `skipif` mark for tests that need `prepared_tfds_dir(*names)`."""
    import pytest

    wanted = ", ".join(f"{n}/{VERSIONS[n]}" for n in names)
    return pytest.mark.skipif(
        prepared_tfds_dir(*names) is None,
        reason=f"no prepared TFDS {wanted} (set TFDS_DATA_DIR or put it at "
        "../shared/tfds beside the checkout)",
    )
