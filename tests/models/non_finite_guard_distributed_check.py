"""Helper of `test_non_finite_guard.py`: the step guard under MirroredStrategy.

Run as a script: logical devices must be configured before TensorFlow
initializes them. Two logical CPUs, `jit_compile=False` (XLA across logical
CPU devices fails, DESIGN.md trap (b)). Global batches of 16 split 8 + 8;
every bad value sits in replica 1's half, so replica 0 alone would see a
good step: the replicas must agree through the all-reduced flags. Prints one
JSON line prefixed by `RESULT `; the assertions live in the test module.
"""

import json

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_vae.models import VAE  # noqa: E402

SHAPE = (8, 8, 1)
BATCH = 16


class Trap(keras.layers.Layer):
    """h + sqrt(relu(h) * 0 + c) - sqrt(c): NaN gradient where c = 0."""

    def call(self, inputs):
        h, x = inputs
        c = 1.0 - ops.reshape(x, (ops.shape(x)[0], -1))[:, :1]
        return h + ops.sqrt(ops.relu(h) * 0.0 + c) - ops.sqrt(c)


def make_model(strategy, initial=None, steps_per_execution=1):
    with strategy.scope():
        x = keras.Input(SHAPE)
        h = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(x))
        encoder = keras.Model(x, Trap()([keras.layers.Dense(4)(h), x]))
        model = VAE(latent_dim=2, hidden_units=(16,), encoder=encoder, seed=0)
        model.build((None,) + SHAPE)
        if initial is not None:
            model.set_weights(initial)
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            jit_compile=False,
            steps_per_execution=steps_per_execution,
        )
    return model


def images(n=64):
    x = (np.random.default_rng(0).random((n,) + SHAPE) < 0.5).astype("float32")
    x[:, 0, 0, 0] = 0.0
    return x


def batched(x):
    return tf.data.Dataset.from_tensor_slices(x).batch(BATCH)


def flat(variables):
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(v)) for v in variables])


def replica_copy_diff(model):
    diffs = [0.0]
    for v in model.trainable_variables:
        values = getattr(v.value, "values", None)
        if values is not None and len(values) > 1:
            diffs.append(float(np.max(np.abs(values[0].numpy() - values[1].numpy()))))
    return max(diffs)


def run(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - reported to the test
        return type(e).__name__, str(e), [c.__name__ for c in type(e).__mro__]
    return None, None, []


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    initial = make_model(strategy).get_weights()

    reference = make_model(strategy, initial)
    reference.fit(batched(images()[:BATCH]), epochs=1, verbose=0)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "reference_iterations": int(reference.optimizer.iterations.numpy()),
    }

    # A NaN gradient in replica 1's half of batch 1.
    x = images()
    x[BATCH + BATCH // 2 : 2 * BATCH, 0, 0, 0] = 1.0
    for spe in (1, 3):
        model = make_model(strategy, initial, spe)
        name, message, _ = run(lambda: model.fit(batched(x), epochs=1, verbose=0))
        result[f"gradient_spe{spe}"] = {
            "error": name,
            "message": message,
            "iterations": int(model.optimizer.iterations.numpy()),
            "vs_reference": float(np.max(np.abs(flat(model.weights) - flat(reference.weights)))),
            "replica_copy_diff": replica_copy_diff(model),
        }

    # 8-bit pixels (max 255) in replica 1's half of batch 2, Bernoulli data.
    x = images()
    x[2 * BATCH + BATCH // 2 + 1, 3, 3, 0] = 255.0
    model = make_model(strategy, initial)
    name, message, mro = run(lambda: model.fit(batched(x), epochs=1, verbose=0))
    result["range_fit"] = {
        "error": name,
        "message": message,
        "is_value_error": "ValueError" in mro,
        "iterations": int(model.optimizer.iterations.numpy()),
    }
    name, message, mro = run(lambda: model.evaluate(batched(x), verbose=0))
    result["range_evaluate"] = {"error": name, "message": message}
    name, message, mro = run(lambda: model.predict(batched(x), verbose=0))
    result["range_predict"] = {"error": name, "message": message}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
