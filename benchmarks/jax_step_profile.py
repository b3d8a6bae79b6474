"""Where keras_vae's JAX train step spends its time, against a plain Keras VAE.

Builds, in one `KERAS_BACKEND=jax` process, keras_vae's `VAE` as
`throughput.py`'s `jax_vae` configuration does (gated MLP 784-300-300-40,
dynamic binarization, Adam 5e-4, XLA, 25 steps per execution, batch 100) and
a plain Keras VAE of the same network (a `compute_loss` override,
`keras.ops`/`keras.random` only), then times the train function Keras's JAX
trainer builds (`model.train_function(state, iterator)`, as `fit` calls it)
on the same device-resident batches, with variants of keras_vae's step
patched in this process only:

    kv                   keras_vae as shipped
    kv_where_update      the update then `where(apply, new, old)` over every
                         variable (the step before its `lax.cond`)
    kv_select_only       the guard with the gradients' finiteness check off
    kv_isfinite_check    the guard written out (isfinite per gradient)
    kv_zero_sum_check    the guard with isfinite(sum of 0 * g) instead
    kv_no_guard          optimizer.apply without the guard's flags or branch
    kv_no_data_checks    constant data flags (no pass over the batch)
    kv_loss_metric_only  only the `loss` tracker updated
    plain                the plain Keras VAE
    noop_kv / noop_plain a jitted step returning its state (dispatch cost of
                         each state pytree, donated as Keras donates it)

The variants are interleaved over `--rounds` rounds, so load from other jobs
hits all alike; each figure is the minimum over rounds of the process CPU
time (and wall time) per step. `--hlo DIR` writes each variant's optimized
HLO of one step and prints op counts.

    KERAS_BACKEND=jax python benchmarks/jax_step_profile.py --rounds 16
"""

import argparse
import collections
import math
import os
import re
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from keras import ops  # noqa: E402

import keras_vae  # noqa: E402

BATCH, SPE = 100, 25


class Gated(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.h = layers.Dense(units)
        self.g = layers.Dense(units, activation="sigmoid")

    def call(self, x):
        return self.h(x) * self.g(x)


class PlainVAE(keras.Model):
    """The plain Keras VAE: the step is Keras's, the loss a `compute_loss`."""

    def __init__(self):
        super().__init__()
        self.enc = [Gated(300), Gated(300)]
        self.mean, self.logvar = layers.Dense(40), layers.Dense(40)
        self.dec = [Gated(300), Gated(300)]
        self.out = layers.Dense(784)
        self.seed = keras.random.SeedGenerator(0)

    def call(self, x, training=False):
        xb = ops.cast(keras.random.uniform(ops.shape(x), seed=self.seed) < x, "float32")
        h = xb
        for layer in self.enc:
            h = layer(h)
        m, lv = self.mean(h), ops.clip(self.logvar(h), -6.0, 2.0)
        z = m + ops.exp(0.5 * lv) * keras.random.normal(ops.shape(m), seed=self.seed)
        for layer in self.dec:
            z = layer(z)
        logits = self.out(z)
        rec = ops.sum(xb * logits - ops.softplus(logits), axis=-1)
        kl = 0.5 * ops.sum(ops.exp(lv) + ops.square(m) - 1.0 - lv, axis=-1)
        return ops.expand_dims(kl - rec, -1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)


def keras_vae_model():
    return keras_vae.models.VAE(
        latent_dim=40, hidden_units=(300, 300), dynamic_binarization=True, seed=0
    )


def prepared(model, x):
    """`model` compiled as in the benchmark, trained one execution (so every
    variable and the train function exist), and its state as `fit` holds it."""
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=True, steps_per_execution=SPE)
    model.fit(x[: BATCH * SPE], epochs=1, batch_size=BATCH, verbose=0, shuffle=False)
    state = model._get_jax_state(
        trainable_variables=True,
        non_trainable_variables=True,
        optimizer_variables=True,
        metrics_variables=True,
    )
    return state


def _zero_sum_finite(grads):
    # 0 * g is +-0 where g is finite and NaN elsewhere: one float reduction.
    total = sum(ops.sum(g * 0.0) for g in grads if g is not None)
    return ops.isfinite(total)


def _isfinite_all(grads):
    flags = [ops.all(ops.isfinite(g)) for g in grads if g is not None]
    return ops.all(ops.stack(flags))


FINITE_CHECKS = {
    "kv_select_only": lambda grads: ops.convert_to_tensor(True),
    "kv_zero_sum_check": _zero_sum_finite,
    "kv_isfinite_check": _isfinite_all,
}


def guarded_update_with(model, all_finite):
    """`GuardedSteps.guarded_update` (no loss scaling) with `all_finite(grads)`."""

    def guarded_update(grads, variables, loss, data_flags, data_range):
        finite_grads = all_finite(grads)
        loss_error = ops.logical_not(ops.all(ops.isfinite(loss)))
        grad_error = ops.logical_not(finite_grads)
        flags = ops.concatenate(
            [data_flags, ops.cast(ops.stack([loss_error, grad_error]), "float32")], axis=0
        )
        bad, earlier_bad = model.record_step("train", flags, data_range)
        apply = ops.logical_and(ops.logical_not(ops.logical_or(bad, earlier_bad)), finite_grads)
        model.apply_gradients_if(apply, grads, variables)

    return guarded_update


def where_apply_if(optimizer, apply, grads, variables):
    """The update then `where(apply, new, old)` over every variable it
    touched (keras_vae's JAX step before the `lax.cond`)."""
    touched = list(variables) + list(optimizer.variables)
    old = [v.value for v in touched]
    optimizer.apply(grads, variables)
    for variable, before in zip(touched, old):
        variable.assign(ops.where(apply, variable.value, before))


def patch(model, variant):
    """Patch `model`'s instance for a keras_vae variant (this process only)."""
    if variant == "kv_no_guard":

        def guarded_update(grads, variables, loss, data_flags, data_range):
            model.optimizer.apply(grads, variables)

        model.guarded_update = guarded_update
    elif variant in FINITE_CHECKS:
        model.guarded_update = guarded_update_with(model, FINITE_CHECKS[variant])
    elif variant == "kv_where_update":
        model.optimizer_apply_if = where_apply_if
    elif variant == "kv_no_data_checks":

        def data_flags(x):
            return ops.zeros((3,), "float32"), ops.zeros((2,), "float32")

        model.data_flags = data_flags
    elif variant == "kv_loss_metric_only":

        def compute_metrics(x, y, y_pred, sample_weight=None):
            tracker = model._trackers["loss"]
            tracker.update_state(ops.mean(y_pred["loss"]))
            return {"loss": tracker.result()}

        model.compute_metrics = compute_metrics


def noop_function():
    """A jitted step returning its state, donated as Keras donates it."""
    step = jax.jit(lambda state, data: ({"loss": data[0][0, 0]}, state), donate_argnums=0)

    def run(state, iterator):
        for data in iterator:
            logs, state = step(state, data)
        return logs, state

    return run


def count_ops(text):
    """Counts of the HLO opcodes of the entry and fused computations."""
    counts = collections.Counter()
    for line in text.splitlines():
        match = re.search(r"=\s*\S+\s+([a-z][a-z0-9\-]*)\(", line)
        if match:
            counts[match.group(1)] += 1
    return counts


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--executions", type=int, default=2, help="executions per variant and round")
    p.add_argument(
        "--variants",
        default="kv,kv_where_update,kv_select_only,kv_no_guard,kv_no_data_checks,"
        "kv_loss_metric_only,plain,noop_kv,noop_plain",
        help="comma-separated names from the list above",
    )
    p.add_argument("--hlo", default=None, help="directory for each variant's optimized HLO")
    args = p.parse_args()
    if keras.backend.backend() != "jax":
        p.error("run with KERAS_BACKEND=jax")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(BATCH * SPE, 784)).astype("float32")
    batches = [(jax.device_put(x[i * BATCH : (i + 1) * BATCH]),) for i in range(SPE)]

    variants = {}
    for name in args.variants.split(","):
        if name in ("plain", "noop_plain"):
            model = PlainVAE()
        else:
            model = keras_vae_model()
            patch(model, name)
        state = prepared(model, x)
        if name.startswith("noop"):
            fn = noop_function()
        else:
            fn = model.train_function
        variants[name] = [model, fn, state]
        print(name, "state leaves", len(jax.tree_util.tree_leaves(state)), flush=True)
        if args.hlo and not name.startswith("noop"):
            os.makedirs(args.hlo, exist_ok=True)
            step = jax.jit(model.train_step, donate_argnums=0)  # as Keras jits it
            text = step.lower(state, batches[0]).compile().as_text()
            with open(os.path.join(args.hlo, f"{name}.txt"), "w") as f:
                f.write(text)
            counts = count_ops(text)
            print(" ", sum(counts.values()), "ops;", dict(counts.most_common(14)), flush=True)

    def execute(entry):
        logs, state = entry[1](entry[2], iter(batches))
        entry[2] = state
        jax.block_until_ready(state)

    for entry in variants.values():  # warm up (compiles on first call)
        execute(entry)
    best = {name: (math.inf, math.inf) for name in variants}
    for _ in range(args.rounds):
        for name, entry in variants.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.executions):
                execute(entry)
            steps = args.executions * SPE
            cpu = (time.process_time() - cpu) / steps
            wall = (time.perf_counter() - wall) / steps
            best[name] = (min(best[name][0], cpu), min(best[name][1], wall))
    base = best.get("plain", (math.nan,))[0]
    for name, (cpu, wall) in best.items():
        print(
            f"{name:20s} cpu {cpu * 1e3:7.3f} ms/step  wall {wall * 1e3:7.3f} ms/step  "
            f"cpu vs plain {cpu / base:5.2f}x"
        )


if __name__ == "__main__":
    main()
