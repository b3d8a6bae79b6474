"""Helper of `test_vector_quantizer_distributed.py`: quantizers on 2 CPUs.

Run as a script: logical devices must be configured before TensorFlow
initializes them, which the pytest process has already done. Prints one JSON
line prefixed by `RESULT `; the assertions live in the test module.

The same quantizer (same seed, same data, same global batch of 64) is
trained by `model.fit` on one device and under `MirroredStrategy` with two
replicas of 32. Everything under the strategy runs with `jit_compile=False`:
XLA under MirroredStrategy over logical CPU devices fails with "resource
located in device CPU:1 from device CPU:0" (DESIGN.md trap (b)).
"""

import json
import warnings

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae.layers import VectorQuantizer  # noqa: E402
from keras_vae.layers import VectorQuantizerEMA  # noqa: E402

BATCH, STEPS, CODES = 64, 3, 64
CONFIGS = {
    "ema": (VectorQuantizerEMA, {"decay": 0.8}),
    "ema_kmeans_restart": (
        VectorQuantizerEMA,
        {"decay": 0.8, "kmeans_init": True, "restart_dead_codes": True, "dead_code_steps": 1},
    ),
    "vq_kmeans_restart": (
        VectorQuantizer,
        {"kmeans_init": True, "restart_dead_codes": True, "dead_code_steps": 1},
    ),
}
STATE = ("embeddings", "ema_cluster_size", "ema_sum", "steps_since_used")


def data():
    rng = np.random.default_rng(0)
    # Clustered vectors of shape (3, 4) per example: 192 vectors a step.
    centres = rng.normal(scale=3.0, size=(5, 4))
    labels = rng.integers(0, 5, size=(BATCH * STEPS, 3))
    # After the first step only two clusters appear: the codes k-means put on
    # the other three die and are restarted.
    labels[BATCH:] %= 2
    x = centres[labels] + rng.normal(scale=0.3, size=(BATCH * STEPS, 3, 4))
    return x.astype("float32")


def train(cls, kwargs, x, strategy=None):
    scope = strategy.scope() if strategy else keras.utils.custom_object_scope({})
    with scope:
        layer = cls(CODES, 4, seed=3, **kwargs)
        inputs = keras.Input((3, 4))
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*any trainable weights.*")
        model.fit(x, np.zeros_like(x), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    state = {name: getattr(layer, name).numpy().tolist() for name in STATE if hasattr(layer, name)}
    copies = [v.value.values if hasattr(v.value, "values") else (v.value,) for v in layer.weights]
    diff = max(
        float(np.max(np.abs(c[0].numpy().astype("float64") - c[-1].numpy().astype("float64"))))
        for c in copies
    )
    return state, diff


def main():
    x = data()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = {"num_replicas": strategy.num_replicas_in_sync, "num_codes": CODES}
    for name, (cls, kwargs) in CONFIGS.items():
        keras.backend.clear_session()
        single, _ = train(cls, kwargs, x)
        keras.backend.clear_session()
        mirrored, diff = train(cls, kwargs, x, strategy)
        codes = np.asarray(single["embeddings"], "float32")
        rows = x.reshape(-1, 4)
        # Restarted codes are copies of encoder outputs of the last batch.
        copies = int(np.sum([np.any(np.all(rows == c, axis=1)) for c in codes]))
        result[name] = {
            "single": single,
            "mirrored": mirrored,
            "copy_diff": diff,
            "codes_equal_to_inputs": copies,
        }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
