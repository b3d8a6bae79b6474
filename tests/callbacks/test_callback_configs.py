"""Diagnostic callbacks: configs hold hyper-parameters, never the examples.

A callback's `x` is data: `get_config` leaves it out, so the config is
small whatever the size of `x`. A callback rebuilt from its config has no
examples: `fit` raises before the first epoch (or, for `ImageGrid`, whose
`x` is optional, only samples are written) until it is built again with
`Callback(x, **config)`.
"""

import inspect
import json
import os

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.callbacks import ActiveUnits
from keras_vae.callbacks import ELBOSurgery
from keras_vae.callbacks import ImageGrid
from keras_vae.callbacks import LogLikelihood

# Hyper-parameters other than the defaults, to see them survive the trip.
CALLBACKS = {
    "ActiveUnits": (ActiveUnits, {"every": 3, "threshold": 0.5, "batch_size": 7}),
    "ELBOSurgery": (
        ELBOSurgery,
        {"every": 2, "num_samples": 3, "batch_size": 7, "seed": 9},
    ),
    "LogLikelihood": (
        LogLikelihood,
        {"every": 2, "max_examples": None, "batch_size": 9, "name": "ll"},
    ),
    "ImageGrid": (
        ImageGrid,
        {
            "directory": "grids",
            "num_images": 2,
            "every": 3,
            "log_dir": "logs",
            "image_shape": [6, 6],
        },
    ),
}


def _data(n):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n, 36)) < 0.4).astype("float32")


def _arrays(value):
    """Every array-like leaf of a config (numpy arrays, serialized tensors)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        if value.get("class_name") in ("__numpy__", "__tensor__"):
            return [value]
        return [a for v in value.values() for a in _arrays(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    return []


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_config_holds_the_hyper_parameters_and_no_data(name):
    cls, kwargs = CALLBACKS[name]
    callback = cls(x=_data(5000), **kwargs)
    config = callback.get_config()
    assert "x" not in config
    assert _arrays(config) == []
    # Exactly the hyper-parameters: every `__init__` argument but `x`.
    arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "x"}
    assert set(config) == arguments
    assert {key: config[key] for key in kwargs} == kwargs
    # 5000 examples of 36 values, yet the config is a few hundred bytes.
    assert len(json.dumps(config)) < 300


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_round_trip_keeps_the_config_and_drops_the_data(name):
    cls, kwargs = CALLBACKS[name]
    callback = cls(x=_data(4), **kwargs)
    clone = testing.run_serialization_test(callback)
    assert clone.x is None
    assert clone.get_config() == callback.get_config()
    # Built again with its data, it is the original callback.
    again = cls(x=callback.x, **clone.get_config())
    assert again.get_config() == callback.get_config()
    np.testing.assert_array_equal(again.x, callback.x)
    np.testing.assert_array_equal(
        cls.from_config({**clone.get_config(), "x": callback.x}).x, callback.x
    )


def _vae():
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
    # No XLA (~5 s a model): the callback runs on the host between
    # executions; every model's XLA training is the conformance suite's.
    model.compile(optimizer="adam", jit_compile=False)
    return model


@pytest.mark.parametrize("name", ["ActiveUnits", "ELBOSurgery", "LogLikelihood"])
def test_a_restored_callback_without_data_fails_before_training(name):
    cls, kwargs = CALLBACKS[name]
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(cls(_data(4), **kwargs))))
    )
    epochs = []
    watch = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))
    with pytest.raises(ValueError, match=rf"examples {name} measures on.*{name}\(x, \*\*config\)"):
        _vae().fit(_data(8), epochs=1, verbose=0, callbacks=[watch, restored])
    assert epochs == []


def test_a_restored_image_grid_writes_samples_only(tmp_path):
    config = ImageGrid(tmp_path, x=_data(4), num_images=2).get_config()
    _vae().fit(_data(8), epochs=1, verbose=0, callbacks=[ImageGrid.from_config(config)])
    assert os.listdir(tmp_path) == ["samples_epoch_0001.png"]


@keras.saving.register_keras_serializable(package="keras_vae_tests")
class _KeepsItsData(ActiveUnits):
    def get_config(self):
        return {**super().get_config(), "x": self.x.tolist()}


def test_the_shared_check_rejects_a_config_holding_data():
    with pytest.raises(AssertionError, match=r"leave out its data arguments.*\['x'\]"):
        testing.run_serialization_test(_KeepsItsData(_data(2)))
