"""Shared test utilities of keras_vae (Convention 6 of DESIGN.md).

- `TestCase`: a `unittest.TestCase` (usable under pytest) with a cleared
  Keras session and fixed seeds per test, temp dirs and array assertions.
- `run_layer_test`, `run_model_test`, `run_serialization_test`: the shared
  checks every public layer, model and serializable object must pass.
- `CONFORMANCE`, `Spec`, `public_symbols`: the registry that every public
  symbol must be in (see `keras_vae.testing.conformance`).
- `linear_gaussian_vae`: a VAE with a closed-form log p(x), for numerical
  tests of likelihood estimators.
- `prepared_tfds_dir`, `requires_tfds`: the offline TFDS data dir of the
  real-data tests (from `KERAS_VAE_DATA_DIR` / `TFDS_DATA_DIR`), and their
  skip mark.
- `run_script`, `run_check_script`: run an example or a check script in a
  fresh interpreter that imports the same keras_vae.
- `interrupt_at.InterruptAt`: a callback that raises at the start of one
  epoch, as a killed job would stop, for tests of resumable training.
"""

from keras_vae.testing.checks import run_serialization_test
from keras_vae.testing.conformance import CONFORMANCE
from keras_vae.testing.conformance import KINDS
from keras_vae.testing.conformance import Spec
from keras_vae.testing.conformance import public_symbols
from keras_vae.testing.layer_test import PerExampleSum
from keras_vae.testing.layer_test import run_layer_test
from keras_vae.testing.linear_gaussian import linear_gaussian_vae
from keras_vae.testing.model_test import run_model_test
from keras_vae.testing.real_data import prepared_tfds_dir
from keras_vae.testing.real_data import requires_tfds
from keras_vae.testing.scripts import run_check_script
from keras_vae.testing.scripts import run_script
from keras_vae.testing.test_case import TestCase

__all__ = [
    "CONFORMANCE",
    "KINDS",
    "PerExampleSum",
    "Spec",
    "TestCase",
    "linear_gaussian_vae",
    "prepared_tfds_dir",
    "requires_tfds",
    "run_check_script",
    "public_symbols",
    "run_layer_test",
    "run_model_test",
    "run_script",
    "run_serialization_test",
]
