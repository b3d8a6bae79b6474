"""Shared pytest hooks: every test and every shared fixture starts seeded.

`keras.utils.set_random_seed` seeds Python's `random`, NumPy's global
generator, TensorFlow and Keras's global seed generator (so weight
initializers built without a seed). Seeds are derived from node ids, so a
test sees the same random state whatever ran before it in the same worker
(`pytest -n 2 --dist loadfile`, `-k`, reordering), and a margin built on a
standard error is checked on the same weights on every run:

- each test: from its node id, before its function-scoped fixtures;
- each module-, class- or session-scoped fixture: from its scope's node id
  and its name, right before it is set up (these run before any test's
  seed, and one may run without another under `-k`).

A test marked by `keras_vae.testing.requires_tfds` / `requires_data` whose
data is missing skips locally and fails in CI (`CI=true`). A test marked
`@pytest.mark.tensorflow_only(reason=...)` skips, with its reason, under any
`KERAS_BACKEND` but TensorFlow. A test marked `@pytest.mark.large_on_jax` is
a slow duplicate, on JAX, of what its TensorFlow run checks: it runs in the
default TensorFlow run and counts as `large` on JAX.

Real data: the package reads its locations from the environment only
(`keras_vae.testing.real_data`): `KERAS_VAE_DATA_DIR` / `TFDS_DATA_DIR` (a
prepared TFDS data dir) and `KERAS_VAE_RAW_DATA_DIR` (raw files: `mnist/`
idx files, `freyfaces/`). When they are unset, this file points them at
`../shared/tfds` and `../shared/data` beside the checkout, if those exist.
"""

import os
import zlib
from pathlib import Path

import keras
import pytest

from keras_vae.testing import run_check_script
from keras_vae.testing.real_data import fail_on_missing_data

_SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not any(os.environ.get(v) for v in ("KERAS_VAE_DATA_DIR", "TFDS_DATA_DIR")):
    if (_SHARED / "tfds").is_dir():
        os.environ["TFDS_DATA_DIR"] = str(_SHARED / "tfds")
if not os.environ.get("KERAS_VAE_RAW_DATA_DIR") and (_SHARED / "data").is_dir():
    os.environ["KERAS_VAE_RAW_DATA_DIR"] = str(_SHARED / "data")


def seed_of(key):
    """A stable 31-bit seed from a string (CRC-32, not the salted `hash`)."""
    return zlib.crc32(key.encode("utf-8")) & 0x7FFFFFFF


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.scope != "function":
        keras.utils.set_random_seed(seed_of(f"{request.node.nodeid}::{fixturedef.argname}"))
    yield


@pytest.fixture(scope="module")
def result(request):
    """The RESULT of the module's `CHECK_SCRIPT`, a script beside it.

    For the tests that need logical devices: the script runs in a subprocess
    (`keras_vae.testing.run_check_script`) once per module.
    """
    here = os.path.dirname(os.path.abspath(request.module.__file__))
    return run_check_script(os.path.join(here, request.module.CHECK_SCRIPT))


@pytest.fixture
def tiny_vqvae():
    """A factory of small VQVAEs: keyword arguments override these sizes.

    Four filters, two residual units, one residual block, one downsampling
    (4x4 images give 2x2 codes), `seed=0`.
    """
    from keras_vae.models import VQVAE

    def make(**kwargs):
        sizes = dict(filters=4, residual_units=2, num_residual_blocks=1, num_downsamples=1)
        return VQVAE(**{**sizes, "seed": 0, **kwargs})

    return make


@pytest.fixture(autouse=True)
def _seed_every_test(request):
    """Seed Python, NumPy, TensorFlow and Keras from the test's node id."""
    keras.utils.set_random_seed(seed_of(request.node.nodeid))
    yield


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "missing_data(reason): needed data is absent in CI; the test fails "
        "(keras_vae.testing.requires_data)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # Before `-m` deselects, so `-m 'not large'` leaves these out on JAX.
    if keras.backend.backend() != "tensorflow":
        for item in items:
            if item.get_closest_marker("large_on_jax") is not None:
                item.add_marker(pytest.mark.large)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    fail_on_missing_data(item)
    marker = item.get_closest_marker("tensorflow_only")
    if marker is not None and keras.backend.backend() != "tensorflow":
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
        pytest.skip(f"TensorFlow only: {reason}" if reason else "TensorFlow only")
