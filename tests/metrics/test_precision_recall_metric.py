"""`metrics.PrecisionRecall`: buffered features give the brute-force k-NN precision and recall."""

import json

import keras
import numpy as np
import pytest

from keras_vae.metrics import PrecisionRecall


def _cloud(seed, n, d=3, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(n, d)) + shift).astype("float32")


def _brute_force(real, fake, k):
    """Oracle: full float64 distance matrices, sorted rows, ball membership."""
    real, fake = real.astype("float64"), fake.astype("float64")

    def dist(x, y):
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))

    radius_real = np.sort(dist(real, real), axis=1)[:, k]  # column 0 is the point itself
    radius_fake = np.sort(dist(fake, fake), axis=1)[:, k]
    precision = (dist(fake, real) <= radius_real[None, :]).any(axis=1).mean()
    recall = (dist(real, fake) <= radius_fake[None, :]).any(axis=1).mean()
    return precision, recall


def _result(metric):
    return {key: float(value) for key, value in metric.result().items()}


def test_streaming_equals_brute_force_knn():
    # Partial overlap: the samples are shifted and narrower.
    real, fake = _cloud(0, 150), _cloud(1, 110, shift=0.8, scale=0.7)
    metric = PrecisionRecall(feature_dim=3, capacity=160, k=3, block_size=64)
    for start, stop in ((0, 40), (40, 100), (100, 150)):  # uneven batches
        metric.update_state(real[start:stop], fake[start:stop] if start < 110 else None)
    result = _result(metric)
    precision, recall = _brute_force(real, fake, k=3)
    assert 0.2 < recall < precision < 1.0  # a case that tells the two apart
    assert result["sample_precision"] == pytest.approx(precision, abs=1e-6)
    assert result["sample_recall"] == pytest.approx(recall, abs=1e-6)


def test_known_overlap():
    real = _cloud(2, 120)
    metric = PrecisionRecall(3, capacity=160, k=3, block_size=64)
    metric.update_state(real, real)  # one set: every point is a ball's center
    assert _result(metric) == {"sample_precision": 1.0, "sample_recall": 1.0}
    metric.reset_state()
    metric.update_state(real, real + 100.0)  # disjoint supports
    assert _result(metric) == {"sample_precision": 0.0, "sample_recall": 0.0}


def test_in_a_compiled_evaluate_step():
    # compile(metrics=...) calls update_state(y, y_pred): y = real, y_pred = generated.
    real, fake = _cloud(3, 128), _cloud(4, 128, shift=0.5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    model.compile(loss="mse", metrics=[PrecisionRecall(3, capacity=160, block_size=64)])
    logs = model.evaluate(fake, real, batch_size=32, verbose=0, return_dict=True)
    precision, recall = _brute_force(real, fake, k=3)
    assert logs["sample_precision"] == pytest.approx(precision, abs=1e-6)
    assert logs["sample_recall"] == pytest.approx(recall, abs=1e-6)


def test_capacity_overflow_raises_never_truncates():
    metric = PrecisionRecall(3, capacity=160, block_size=64)
    metric.update_state(_cloud(5, 100))
    with pytest.raises(ValueError, match=r"at most `capacity` = 160 real examples"):
        metric.update_state(_cloud(6, 61))
    # In a compiled step the rows are counted, not stored; the end of evaluate raises.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    model.compile(loss="mse", metrics=[PrecisionRecall(3, capacity=160, block_size=64)])
    with pytest.raises(ValueError, match=r"Received: 192 real and 192 generated"):
        model.evaluate(_cloud(7, 192), _cloud(8, 192), batch_size=32, verbose=0)


def test_state_sums_across_replicas_and_resets():
    metric = PrecisionRecall(3, capacity=160, block_size=64)
    assert [v.aggregation for v in metric.variables] == ["sum"] * 4
    assert all(np.isnan(v) for v in _result(metric).values())  # no examples yet
    metric.update_state(_cloud(9, 3), _cloud(10, 50))
    assert all(np.isnan(v) for v in _result(metric).values())  # 3 real examples, k = 3
    metric.reset_state()
    assert [float(np.abs(keras.ops.convert_to_numpy(v)).sum()) for v in metric.variables] == [0] * 4


def test_config_round_trip():
    metric = PrecisionRecall(5, capacity=20, k=2, block_size=8, name="pr")
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(metric)))
    )
    assert isinstance(restored, PrecisionRecall)
    assert restored.get_config() == metric.get_config()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"`capacity` to be a positive integer"):
        PrecisionRecall(3, capacity=0)
    with pytest.raises(ValueError, match=r"`capacity` > k = 3"):
        PrecisionRecall(3, capacity=3)
    metric = PrecisionRecall(3, capacity=10)
    with pytest.raises(ValueError, match=r"`generated_features` of shape \(batch, 3\)"):
        metric.update_state(None, np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"`sample_weight=None`"):
        metric.update_state(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(2))
