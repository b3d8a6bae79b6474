"""`metrics.KernelDistance`: streamed moment tensors give the unbiased MMD^2 of all pairs."""

import json

import keras
import numpy as np
import pytest

from keras_vae.metrics import KernelDistance


def _cloud(seed, n, d=4, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(n, d)) + shift).astype("float32")


def _unbiased_mmd2(a, b):
    """Oracle: every kernel value by a loop-free float64 Gram matrix, diagonals dropped."""
    a, b = a.astype("float64"), b.astype("float64")
    d = a.shape[1]
    gram_aa, gram_bb, gram_ab = (
        (1 + a @ a.T / d) ** 3,
        (1 + b @ b.T / d) ** 3,
        (1 + a @ b.T / d) ** 3,
    )
    na, nb = len(a), len(b)
    off_aa = gram_aa[~np.eye(na, dtype=bool)].mean()
    off_bb = gram_bb[~np.eye(nb, dtype=bool)].mean()
    return off_aa + off_bb - 2 * gram_ab.mean()


def _stream(metric, a, b, sizes_a, sizes_b):
    for chunk in np.split(a, np.cumsum(sizes_a)[:-1]):
        metric.update_state(chunk)
    for chunk in np.split(b, np.cumsum(sizes_b)[:-1]):
        metric.update_state(None, chunk)
    return {key: float(value) for key, value in metric.result().items()}


def test_streaming_equals_the_unbiased_estimate_on_all_pairs():
    a, b = _cloud(0, 230, shift=0.3), _cloud(1, 170, scale=1.3)
    metric = KernelDistance(feature_dim=4, num_subsets=3)
    result = _stream(metric, a, b, (64, 100, 66), (50, 50, 70))  # uneven batches and sets
    assert result["kernel_distance"] == pytest.approx(_unbiased_mmd2(a, b), rel=1e-4)


def test_spread_is_over_round_robin_subsets():
    a, b = _cloud(2, 120), _cloud(3, 90, shift=0.5)
    metric = KernelDistance(4, num_subsets=3)
    result = _stream(metric, a, b, (50, 70), (40, 50))
    per_subset = [_unbiased_mmd2(a[j::3], b[j::3]) for j in range(3)]  # example i -> i mod 3
    assert result["kernel_distance_std"] == pytest.approx(np.std(per_subset), rel=1e-3)


def test_zero_for_one_distribution_within_its_spread():
    same = _stream(KernelDistance(4, num_subsets=4), _cloud(4, 400), _cloud(5, 400), (400,), (400,))
    assert abs(same["kernel_distance"]) < same["kernel_distance_std"]
    far = _stream(
        KernelDistance(4, num_subsets=4), _cloud(4, 400), _cloud(5, 400, shift=0.5), (400,), (400,)
    )
    assert far["kernel_distance"] > 5 * far["kernel_distance_std"] > 0


@pytest.mark.tensorflow_only(reason="float64 state needs jax_enable_x64 on JAX")
def test_float64_state_is_exact():
    a, b = _cloud(6, 150, shift=2.0), _cloud(7, 100)
    metric = KernelDistance(4, num_subsets=2, dtype="float64")
    result = _stream(metric, a, b, (75, 75), (100,))
    assert result["kernel_distance"] == pytest.approx(_unbiased_mmd2(a, b), rel=1e-10)


def test_in_a_compiled_evaluate_step():
    # compile(metrics=...) calls update_state(y, y_pred): y = set a, y_pred = set b.
    a, b = _cloud(8, 256), _cloud(9, 256, shift=0.3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Identity()])
    model.compile(loss="mse", metrics=[KernelDistance(4, num_subsets=2)])
    logs = model.evaluate(b, a, batch_size=64, verbose=0, return_dict=True)
    assert logs["kernel_distance"] == pytest.approx(_unbiased_mmd2(a, b), rel=1e-4)
    assert logs["kernel_distance_std"] > 0


def test_state_sums_across_replicas_and_resets():
    metric = KernelDistance(3, num_subsets=2)
    assert [v.aggregation for v in metric.variables] == ["sum"] * 6
    result = metric.result()
    assert np.isnan(float(result["kernel_distance"]))  # no examples yet
    a, b = _cloud(10, 40, d=3), _cloud(11, 30, d=3)
    metric.update_state(a, b[:3])
    result = metric.result()
    assert np.isfinite(float(result["kernel_distance"]))
    assert np.isnan(float(result["kernel_distance_std"]))  # a subset of b holds 1 example
    metric.reset_state()
    metric.update_state(a, b)
    result = metric.result()
    assert float(result["kernel_distance"]) == pytest.approx(_unbiased_mmd2(a, b), rel=1e-4)


def test_config_round_trip():
    metric = KernelDistance(5, num_subsets=7, name="kid")
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(metric)))
    )
    assert isinstance(restored, KernelDistance)
    assert (restored.feature_dim, restored.num_subsets, restored.name) == (5, 7, "kid")
    assert set(restored.result()) == {"kid", "kid_std"}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"`feature_dim` to be a positive integer"):
        KernelDistance(0)
    with pytest.raises(ValueError, match=r"`num_subsets` to be a positive integer"):
        KernelDistance(3, num_subsets=0)
    metric = KernelDistance(3, num_subsets=1)
    with pytest.raises(ValueError, match=r"`features_b` of shape \(batch, 3\)"):
        metric.update_state(None, np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"`sample_weight=None`"):
        metric.update_state(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(2))
