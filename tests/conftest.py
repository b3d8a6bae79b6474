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
data is missing skips locally and fails in CI (`CI=true`).
"""

import zlib

import keras
import pytest

from keras_vae.testing.real_data import fail_on_missing_data


def seed_of(key):
    """A stable 31-bit seed from a string (CRC-32, not the salted `hash`)."""
    return zlib.crc32(key.encode("utf-8")) & 0x7FFFFFFF


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.scope != "function":
        keras.utils.set_random_seed(
            seed_of(f"{request.node.nodeid}::{fixturedef.argname}")
        )
    yield


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


def pytest_runtest_setup(item):
    fail_on_missing_data(item)
