"""`TestCase`: the shared `unittest.TestCase` of keras_vae's tests."""

import shutil
import tempfile
import unittest

import keras
import numpy as np

from keras_vae.testing.checks import run_serialization_test
from keras_vae.testing.checks import to_numpy
from keras_vae.testing.layer_test import run_layer_test
from keras_vae.testing.model_test import run_model_test


class TestCase(unittest.TestCase):
    """`unittest.TestCase` with keras_vae's helpers; runs under pytest too.

    Each test starts from a cleared Keras session and fixed global seeds
    (`keras.utils.set_random_seed(1337)`), so results do not depend on the
    test order.
    """

    def setUp(self):
        super().setUp()
        keras.backend.clear_session()
        keras.utils.set_random_seed(1337)

    def get_temp_dir(self):
        """A fresh temporary directory removed after the test."""
        path = tempfile.mkdtemp(prefix="keras_vae_test_")
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path

    def assertAllClose(self, actual, expected, rtol=1e-6, atol=1e-6, msg=None):
        np.testing.assert_allclose(
            to_numpy(actual),
            to_numpy(expected),
            rtol=rtol,
            atol=atol,
            err_msg=msg or "",
        )

    def assertNotAllClose(self, actual, expected, rtol=1e-6, atol=1e-6, msg=None):
        if np.allclose(to_numpy(actual), to_numpy(expected), rtol=rtol, atol=atol):
            self.fail(msg or "Expected the arrays to differ, but they are close.")

    def run_layer_test(self, layer_cls, init_kwargs, **kwargs):
        """`keras_vae.testing.run_layer_test` as a method."""
        run_layer_test(layer_cls, init_kwargs, **kwargs)

    def run_model_test(self, model_cls, init_kwargs, input_data, **kwargs):
        """`keras_vae.testing.run_model_test` as a method."""
        return run_model_test(model_cls, init_kwargs, input_data, **kwargs)

    def run_serialization_test(self, instance, custom_objects=None):
        """`keras_vae.testing.run_serialization_test` as a method."""
        return run_serialization_test(instance, custom_objects)
