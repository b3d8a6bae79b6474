"""Helper of `test_export_distributed.py`: export a MirroredStrategy model.

Run as a script (`python mirrored_export_check.py OUT_DIR`): the two logical
CPU devices must be configured before TensorFlow initializes them. Trains a
VAE under `tf.distribute.MirroredStrategy` (jit_compile=False: XLA cannot
read mirrored variables over logical CPU devices, DESIGN.md trap (b)),
exports it from outside and from inside the strategy's scope, and saves the
in-process `reconstruct` and `encode` results next to the exports. Prints
`RESULT {json}`.
"""

import json
import os
import sys

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from keras_vae.export import export_for_serving  # noqa: E402
from keras_vae.models import VAE  # noqa: E402


def main(out_dir):
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(64, 8, 8, 1)) < 0.3).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    with strategy.scope():
        model = VAE(latent_dim=2, hidden_units=(8,), seed=1)
        model.compile(optimizer="adam", jit_compile=False)
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    mirrored = type(model.trainable_variables[0].value).__name__
    outside = export_for_serving(model, os.path.join(out_dir, "outside"))
    with strategy.scope():
        inside = export_for_serving(model, os.path.join(out_dir, "inside"))
    batch = x[:4]
    loc, scale = model.encode(batch)
    np.savez(
        os.path.join(out_dir, "expected.npz"),
        x=batch,
        mean=np.asarray(model.reconstruct(batch)),
        loc=np.asarray(loc),
        scale=np.asarray(scale),
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "variable_type": mirrored,
                "replicas": strategy.num_replicas_in_sync,
                "outside": outside,
                "inside": inside,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
