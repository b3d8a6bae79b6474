"""Helper of `test_frechet_distance_distributed.py`: `metrics.FrechetDistance`
under MirroredStrategy on two logical CPU devices.

Run as a script: logical devices must be configured before TensorFlow
initializes them. Prints one JSON line prefixed by `RESULT `.

An identity model is evaluated with the metric in `compile(metrics=...)`
(`update_state(y, y_pred)`: y = set a, y_pred = set b); each global batch is
split over the two replicas, whose sums the metric's `aggregation="sum"`
variables add up. The batch function on all the examples is the reference.
"""

import json
import sys

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae import diagnostics  # noqa: E402
from keras_vae.metrics import FrechetDistance  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(256, 4)).astype("float32")
    b = (1.5 * rng.normal(size=(256, 4)) + 0.5).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Identity()])
        model.compile(loss="mse", metrics=[FrechetDistance(4)], jit_compile=False)
    logs = model.evaluate(b, a, batch_size=64, verbose=0, return_dict=True)
    result = {
        "num_replicas": strategy.num_replicas_in_sync,
        "mirrored": float(logs["frechet_distance"]),
        "batch_function": diagnostics.frechet_distance(a, b),
    }
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
