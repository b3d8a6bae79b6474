"""Helper of `test_geco.py`: GECO under MirroredStrategy on 2 logical CPUs.

Run as a script: logical devices must be configured before TensorFlow
initializes them, which the pytest process has already done. Prints one JSON
line prefixed by `RESULT `; the assertions live in the test module. Per
DESIGN.md trap (b) nothing here uses XLA.
"""

import json

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402

REPLICA_VALUES = [[30.0, 10.0], [12.0, 8.0], [5.0, 3.0]]  # per step, per replica


def geco_state(geco):
    return {
        name: [float(v) for v in strategy.experimental_local_results(getattr(geco, name).value)]
        for name in ("multiplier", "constraint_average", "steps")
    }


strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = keras_vae.layers.GECO(kappa=3.0, alpha=0.5, nu=0.5, damping=1.0)
single = keras_vae.layers.GECO(kappa=3.0, alpha=0.5, nu=0.5, damping=1.0)


@tf.function
def step(values):
    def fn():
        ctx = tf.distribute.get_replica_context()
        value = tf.gather(values, ctx.replica_id_in_sync_group)
        return mirrored(value, training=True)

    return strategy.run(fn)


lams = []
for values in REPLICA_VALUES:
    out = step(tf.constant(values))
    lams.append([float(v) for v in strategy.experimental_local_results(out)])
    single(np.float32(np.mean(values)), training=True)


class BatchConstraints(keras.callbacks.Callback):
    """The global batch C of every step, from Keras's running epoch means."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_epoch_begin(self, epoch, logs=None):
        self.previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        running = float(logs["constraint"])
        self.values.append((batch + 1) * running - batch * self.previous)
        self.previous = running


# A VAE with a GECO constraint trained by `fit` under the strategy. The two
# replicas see different halves of each batch; GECO must update from the
# global batch's C (the logged metric), whatever copy the variables keep.
GECO_FIT = {"kappa": 2.0, "alpha": 0.5, "nu": 0.05}
x = (np.random.default_rng(0).random((64, 16)) < 0.5).astype("float32")
x[32:48] = 0.0  # the halves of the second batch differ a lot
with strategy.scope():
    vae = keras_vae.models.VAE(
        latent_dim=2,
        hidden_units=(8,),
        seed=1,
        constraint=keras_vae.layers.GECO(**GECO_FIT),
    )
    vae.compile(optimizer="adam", jit_compile=False)
batch_constraints = BatchConstraints()
history = vae.fit(
    x, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=[batch_constraints]
)

print(
    "RESULT "
    + json.dumps(
        {
            "num_replicas": strategy.num_replicas_in_sync,
            "mirrored": geco_state(mirrored),
            "single": {
                k: [v]
                for k, v in {
                    "multiplier": float(single.multiplier),
                    "constraint_average": float(single.constraint_average),
                    "steps": float(single.steps),
                }.items()
            },
            "returned": lams,
            "fit_lambda": history.history["lambda"],
            "fit_copies": geco_state(vae.constraint),
            "fit_geco": GECO_FIT,
            "fit_batch_constraints": batch_constraints.values,
        }
    )
)
