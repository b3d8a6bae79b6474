"""`metrics.FrechetDistance`: streamed sums give the batch function's value."""

import json

import keras
import numpy as np
import pytest

from keras_vae import diagnostics
from keras_vae.metrics import FrechetDistance


def _features(seed, n, d=4, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return (scale * rng.normal(size=(n, d)) @ mix + shift).astype("float32")


def test_streaming_equals_the_batch_function():
    a, b = _features(0, 700, shift=0.5), _features(1, 450, scale=1.5)
    metric = FrechetDistance(feature_dim=4)
    for start, stop in ((0, 128), (128, 300), (300, 512), (512, 700)):  # uneven batches
        metric.update_state(a[start:stop])
    for start in range(0, 450, 100):
        metric.update_state(None, b[start : start + 100])
    want = diagnostics.frechet_distance(a, b)
    assert float(metric.result()) == pytest.approx(want, rel=1e-4)


@pytest.mark.tensorflow_only(reason="float64 state needs jax_enable_x64 on JAX")
def test_float64_state_is_exact():
    a, b = _features(2, 300, shift=3.0), _features(3, 200)
    metric = FrechetDistance(4, dtype="float64")
    metric.update_state(a[:100], b[:50])
    metric.update_state(a[100:], b[50:])
    want = diagnostics.frechet_distance(a, b)
    assert float(metric.result()) == pytest.approx(want, rel=1e-10)


def test_in_a_compiled_evaluate_step():
    # compile(metrics=...) calls update_state(y, y_pred): y = set a, y_pred = set b.
    a, b = _features(4, 256), _features(5, 256, shift=1.0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Identity()])
    model.compile(loss="mse", metrics=[FrechetDistance(4)])
    logs = model.evaluate(b, a, batch_size=64, verbose=0, return_dict=True)
    assert logs["frechet_distance"] == pytest.approx(diagnostics.frechet_distance(a, b), rel=1e-4)


def test_state_sums_across_replicas_and_resets():
    metric = FrechetDistance(3)
    assert [v.aggregation for v in metric.variables] == ["sum"] * 6
    assert np.isnan(float(metric.result()))  # no examples yet
    a, b = _features(6, 50, d=3), _features(7, 40, d=3)
    metric.update_state(a, b[:1])
    assert np.isnan(float(metric.result()))  # one example of set b
    metric.reset_state()
    metric.update_state(a, b)
    assert float(metric.result()) == pytest.approx(diagnostics.frechet_distance(a, b), rel=1e-4)


def test_config_round_trip():
    metric = FrechetDistance(5, name="fd")
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(metric)))
    )
    assert isinstance(restored, FrechetDistance)
    assert (restored.feature_dim, restored.name) == (5, "fd")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"`feature_dim` to be a positive integer"):
        FrechetDistance(0)
    metric = FrechetDistance(3)
    with pytest.raises(ValueError, match=r"`features_a` of shape \(batch, 3\)"):
        metric.update_state(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"`sample_weight=None`"):
        metric.update_state(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(2))
