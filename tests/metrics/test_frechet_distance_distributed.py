"""`metrics.FrechetDistance` under `tf.distribute.MirroredStrategy` (two logical CPUs)."""

import pytest

# Run by the `result` fixture (tests/conftest.py).
CHECK_SCRIPT = "frechet_distance_distributed_check.py"

# A subprocess importing TensorFlow: too slow for the default run.
pytestmark = [
    pytest.mark.large,
    pytest.mark.tensorflow_only(reason="tf.distribute and logical devices"),
]


def test_replica_sums_add_up_to_the_batch_function(result):
    assert result["num_replicas"] == 2
    assert result["mirrored"] == pytest.approx(result["batch_function"], rel=1e-4)
