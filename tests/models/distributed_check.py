"""Helper of `test_distributed.py`: models under MirroredStrategy on 2 CPUs.

Run as a script (`python distributed_check.py`): logical devices must be
configured before TensorFlow initializes them, which the pytest process has
already done. Prints one JSON line of measurements, prefixed by `RESULT `;
the assertions live in `test_distributed.py`.

Both setups start from identical weights and train with plain SGD (Adam
would normalize away a gradient scale, hiding DESIGN.md trap (a)). The
posterior log-variance is clamped to [-20, -19] so z = loc + ~4e-5 * eps: the
two setups draw different eps, but both are then nearly deterministic and can
be compared tightly.

Everything under the strategy runs with `jit_compile=False`: XLA under
MirroredStrategy over logical CPU devices fails with "resource located in
device CPU:1 from device CPU:0" (DESIGN.md trap (b)).
"""

import json

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae.callbacks import NonFiniteLossError  # noqa: E402
from keras_vae.models import VAE  # noqa: E402
from keras_vae.models import LadderVAE  # noqa: E402

BATCH = 512  # 256 per replica
LR = 0.05


def make_model():
    model = VAE(
        latent_dim=2,
        hidden_units=(16,),
        min_log_var=-20.0,
        max_log_var=-19.0,
        seed=1,
    )
    model.build((None, 8, 8, 1))
    return model


class StepRecorder(keras.callbacks.Callback):
    """Records the running loss and the trainable weights after each step."""

    def __init__(self):
        super().__init__()
        self.losses, self.weights = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        self.weights.append([v.numpy() for v in self.model.trainable_variables])


def flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays]).astype("float64")


def replica_values(model):
    """Each replica's copy of every trainable variable, as flat vectors."""
    per_replica = [[], []]
    for v in model.trainable_variables:
        values = v.value.values if hasattr(v.value, "values") else (v.value,)
        for i, value in enumerate(values):
            per_replica[i].append(value.numpy())
    return [flat(p) for p in per_replica]


def lazy_ladder_fit(strategy, x):
    """A LadderVAE made in the scope but built by `fit`, not by hand.

    Its weights must be created under the strategy (mirrored), or the
    optimizer refuses them. Batch norm keeps per-replica batch statistics,
    so this model is not compared with a single-device one.
    """
    with strategy.scope():
        model = LadderVAE(latent_dims=(3, 2), hidden_units=(8, 4), free_bits=0.1, seed=0)
        model.compile(optimizer="adam", jit_compile=False)
    history = model.fit(x[:128], batch_size=64, epochs=1, verbose=0)
    copies = replica_values(model)
    return {
        "lazy_ladder_loss": history.history["loss"],
        "lazy_ladder_mirrored": all(hasattr(v.value, "values") for v in model.trainable_variables),
        "lazy_ladder_replica_copy_diff": float(np.max(np.abs(copies[0] - copies[1]))),
    }


def main():
    logical = tf.config.list_logical_devices("CPU")
    rng = np.random.default_rng(0)
    x = (rng.random((2 * BATCH, 8, 8, 1)) < 0.3).astype("float32")

    single = make_model()
    initial = [w.numpy() for w in single.weights]
    # One step per execution, as under the strategy: losses are compared per step.
    single.compile(optimizer=keras.optimizers.SGD(LR), jit_compile=False, steps_per_execution=1)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = make_model()
        mirrored.set_weights(initial)
        # Trap (b): no XLA under MirroredStrategy over logical CPU devices.
        mirrored.compile(optimizer=keras.optimizers.SGD(LR), jit_compile=False)

    start = flat(v.numpy() for v in single.trainable_variables)
    ll_single = single.log_likelihood(x[:32], num_importance_samples=8)
    ll_mirrored = mirrored.log_likelihood(x[:32], num_importance_samples=8)
    eval_single = single.evaluate(x, batch_size=BATCH, verbose=0, return_dict=True)
    eval_mirrored = mirrored.evaluate(x, batch_size=BATCH, verbose=0, return_dict=True)

    rec_single, rec_mirrored = StepRecorder(), StepRecorder()
    for model, recorder in ((single, rec_single), (mirrored, rec_mirrored)):
        model.fit(
            x,
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[recorder],
        )
    update_single = flat(rec_single.weights[-1]) - start
    update_mirrored = flat(rec_mirrored.weights[-1]) - start
    copies = replica_values(mirrored)

    # A non-finite value in ONE replica's shard of the second batch: both
    # replicas must skip that update together (all-reduced finiteness flag).
    before_bad = flat(v.numpy() for v in mirrored.trainable_variables)
    iterations = int(mirrored.optimizer.iterations.numpy())
    bad_x = x.copy()
    bad_x[BATCH + BATCH // 2 + 10] = np.nan  # second batch, second half
    dataset = tf.data.Dataset.from_tensor_slices(bad_x).batch(BATCH)
    rec_bad = StepRecorder()
    error = None
    try:
        mirrored.fit(dataset, epochs=1, verbose=0, callbacks=[rec_bad])
    except NonFiniteLossError as e:
        error = str(e)
    after_good_step = rec_bad.weights[0]
    copies_after = replica_values(mirrored)

    final = flat(v.numpy() for v in mirrored.trainable_variables)
    result = {
        "num_logical_cpus": len(logical),
        "num_replicas": strategy.num_replicas_in_sync,
        "eval_single": eval_single,
        "eval_mirrored": eval_mirrored,
        "ll_single": np.asarray(ll_single).tolist(),
        "ll_mirrored": np.asarray(ll_mirrored).tolist(),
        "losses_single": rec_single.losses,
        "losses_mirrored": rec_mirrored.losses,
        "update_norm_single": float(np.linalg.norm(update_single)),
        "update_norm_mirrored": float(np.linalg.norm(update_mirrored)),
        "update_diff_norm": float(np.linalg.norm(update_single - update_mirrored)),
        "replica_copy_diff": float(np.max(np.abs(copies[0] - copies[1]))),
        "nan_error": error,
        "nan_steps_recorded": len(rec_bad.losses),
        "nan_good_step_update_norm": float(np.linalg.norm(flat(after_good_step) - before_bad)),
        "nan_final_vs_good_step": float(np.max(np.abs(final - flat(after_good_step)))),
        "nan_replica_copy_diff": float(np.max(np.abs(copies_after[0] - copies_after[1]))),
        "nan_final_finite": bool(np.all(np.isfinite(copies_after))),
        "iterations_before": iterations,
        "iterations_after": int(mirrored.optimizer.iterations.numpy()),
        **lazy_ladder_fit(strategy, x),
        **compile_defaults_outside_the_scope(strategy),
    }
    print("RESULT " + json.dumps(result))


def compile_defaults_outside_the_scope(strategy):
    """`compile()`'s "auto" defaults of a model created under the strategy,
    compiled outside its scope (as a user may): one step per execution and
    no XLA, from the model's own strategy, not the current one."""
    with strategy.scope():
        model = VAE(latent_dim=2, hidden_units=(4,), seed=0)
    model.compile(optimizer="adam")
    return {
        "auto_steps_per_execution": int(model.steps_per_execution),
        "auto_jit_compile": bool(model.jit_compile),
    }


if __name__ == "__main__":
    main()
