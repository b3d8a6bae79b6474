"""Helper of `test_sample_quality_metrics_distributed.py`: `metrics.KernelDistance`
and `metrics.PrecisionRecall` under MirroredStrategy on two logical CPU devices.

Run as a script: logical devices must be configured before TensorFlow
initializes them. Prints one JSON line prefixed by `RESULT `.

An identity model is evaluated with the metrics in `compile(metrics=...)`
(`update_state(y, y_pred)`: y = set a / real, y_pred = set b / generated);
each global batch is split over the two replicas. KernelDistance's
moment tensors add up; PrecisionRecall's replicas write disjoint slabs of
the summed buffers. The batch functions on all the examples are the reference.
"""

import json
import sys

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae import diagnostics  # noqa: E402
from keras_vae.metrics import KernelDistance  # noqa: E402
from keras_vae.metrics import PrecisionRecall  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(256, 3)).astype("float32")
    b = (1.2 * rng.normal(size=(256, 3)) + 0.4).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
        metrics = [KernelDistance(3, num_subsets=2), PrecisionRecall(3, capacity=256)]
        model.compile(loss="mse", metrics=metrics, jit_compile=False)
    logs = model.evaluate(b, a, batch_size=64, verbose=0, return_dict=True)
    # The whole-set KID is the function's subset mean with one subset of all rows.
    kid = diagnostics.kernel_distance(a, b, num_subsets=1, subset_size=256)
    pr = diagnostics.precision_recall(a, b)
    result = {
        "num_replicas": strategy.num_replicas_in_sync,
        "mirrored": [logs["kernel_distance"], logs["sample_precision"], logs["sample_recall"]],
        "batch_function": [kid.mean, pr.precision, pr.recall],
    }
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
