"""`metrics.KernelDistance` and `metrics.PrecisionRecall` under MirroredStrategy."""

import pytest

# Run by the `result` fixture (tests/conftest.py).
CHECK_SCRIPT = "sample_quality_metrics_distributed_check.py"

# A subprocess importing TensorFlow: too slow for the default run.
pytestmark = [
    pytest.mark.large,
    pytest.mark.tensorflow_only(reason="tf.distribute and logical devices"),
]


def test_replica_states_reduce_to_the_batch_functions(result):
    assert result["num_replicas"] == 2
    kid, precision, recall = result["mirrored"]
    want_kid, want_precision, want_recall = result["batch_function"]
    assert kid == pytest.approx(want_kid, rel=1e-4)
    assert (precision, recall) == pytest.approx((want_precision, want_recall), abs=1e-6)
