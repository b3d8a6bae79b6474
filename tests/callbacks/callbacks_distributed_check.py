"""Helper of `test_callbacks_distributed.py`: the diagnostic callbacks with a
model under MirroredStrategy on two logical CPU devices.

Run as a script: logical devices must be configured before TensorFlow
initializes them, which the pytest process has already done. Prints one JSON
line prefixed by `RESULT `; the assertions live in the test module.

A single-device model and a mirrored one start from the same weights and
train one epoch with SGD at learning rate 0, so the weights the callbacks see
are equal. The mirrored model runs without XLA (DESIGN.md trap (b)).
"""

import json
import os
import sys
import tempfile

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402


def make_model():
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=1)
    model.build((None, 6, 6, 1))
    return model


def run(model, x, out_dir, jit_compile):
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile)
    callbacks = [
        keras_vae.callbacks.ActiveUnits(x, threshold=0.0),
        keras_vae.callbacks.ELBOSurgery(x, num_samples=2, seed=3),
        keras_vae.callbacks.LogLikelihood(x, num_importance_samples=300, max_examples=16),
        keras_vae.callbacks.ImageGrid(out_dir, x=x[:4], num_images=4),
    ]
    history = model.fit(x, epochs=1, batch_size=32, verbose=0, callbacks=callbacks)
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    pngs = {}
    for name in ("samples", "reconstructions"):
        png = tf.io.read_file(os.path.join(out_dir, f"{name}_epoch_0001.png"))
        pngs[name] = tf.io.decode_png(png).numpy().tolist()
    return logs, pngs


def main():
    rng = np.random.RandomState(0)
    x = (rng.uniform(size=(64, 6, 6, 1)) < 0.4).astype("float32")
    single = make_model()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = make_model()
    mirrored.set_weights(single.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        logs_single, png_single = run(single, x, os.path.join(tmp, "a"), True)
        logs_mirrored, png_mirrored = run(mirrored, x, os.path.join(tmp, "b"), False)
    result = {
        "num_replicas": strategy.num_replicas_in_sync,
        "logs_single": logs_single,
        "logs_mirrored": logs_mirrored,
        "png_single": png_single,
        "png_mirrored": png_mirrored,
    }
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
