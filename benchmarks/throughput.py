"""Training throughput of the paper's gated-MLP VAE (784-300-300-40), batch 100.

examples/s = 50,000 / median epoch seconds (the first, compiling epoch is
not timed), on dynamically binarized MNIST-shaped data (real MNIST when a
TFDS dir is given, else uniform intensities: the arithmetic is the same).
Configurations (`--configs`):

    kv_sn_xla, kv_sn_graph    keras_vae, standard normal prior, XLA / no XLA
    kv_vamp_xla, kv_vamp_graph  keras_vae, VampPrior with `--components` K
    pythae_vae, pythae_vamp   pythae 0.1.2 (needs `--peer-python`, PEER.md)

keras_vae workers also count the floating-point operations of one training
step (forward and backward, TF profiler on the un-compiled graph), so the
achieved FLOP/s of the configurations can be compared. Every measurement
runs in a fresh process, and the configurations are interleaved over
`--rounds` rounds, so machine drift hits all of them alike; ratios are taken
per round and their median reported. (A process that has run TensorFlow
keeps its thread pools spinning for a while, which slows anything started
from it: hence fresh processes.)

    python benchmarks/throughput.py --rounds 3 --epochs 3 \\
        --peer-python $PEER_VENV/bin/python --json results.json
    python benchmarks/throughput.py --configs kv_sn_xla,kv_vamp_xla,pythae_vamp \\
        --peer-python $PEER_VENV/bin/python --steps-per-execution 25
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(args):
    """Measure one keras_vae configuration; print examples/s as JSON."""
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_vae

    class EpochTimer(keras.callbacks.Callback):
        times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    if args.data_dir:
        x = keras_vae.datasets.load("mnist", "train", binarization=None,
                                    data_dir=args.data_dir, flatten=True, as_numpy=True)
    else:
        x = np.random.RandomState(0).rand(50000, 784).astype("float32")
    keras.utils.set_random_seed(0)
    prior = keras_vae.priors.VampPrior(args.components) if args.prior == "vamp" else None
    model = keras_vae.models.VAE(latent_dim=40, hidden_units=(300, 300), prior=prior,
                                 dynamic_binarization=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=args.worker == "xla",
                  steps_per_execution=args.steps_per_execution)
    ds = (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0)
          .batch(100).prefetch(tf.data.AUTOTUNE))
    timer = EpochTimer()
    model.fit(ds, epochs=args.epochs + 1, verbose=0, shuffle=False, callbacks=[timer])
    rate = len(x) / statistics.median(timer.times[1:])
    flops = step_flops(model, x[:100])
    print(json.dumps({"examples_per_s": rate, "flops_per_step": flops,
                      "gflop_per_s": flops * rate / 100 / 1e9}))


def step_flops(model, batch):
    """Floating-point operations of one loss-and-gradient step (TF profiler)."""
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x)
        return tape.gradient(loss, model.trainable_variables)

    graph = step.get_concrete_function(tf.TensorSpec(batch.shape, tf.float32)).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops


def run(cmd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement")
    p.add_argument("--configs", default=None,
                   help="comma-separated, from " + ", ".join(CONFIGS) + " (default: "
                        "kv_sn_xla,kv_sn_graph and pythae_vae with --peer-python)")
    p.add_argument("--components", type=int, default=500, help="VampPrior K")
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    p.add_argument("--peer-python", default=None,
                   help="python of the pythae peer venv (benchmarks/PEER.md)")
    p.add_argument("--json", default=None)
    p.add_argument("--worker", choices=("xla", "graph"), help=argparse.SUPPRESS)
    p.add_argument("--prior", choices=("standard_normal", "vamp"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    if args.configs:
        names = args.configs.split(",")
    else:
        names = ["kv_sn_xla", "kv_sn_graph"] + (["pythae_vae"] if args.peer_python else [])
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or (any(n.startswith("pythae") for n in names) and not args.peer_python):
        p.error(f"unknown configs {unknown} (or a pythae config without --peer-python)")
    rates = {name: [] for name in names}
    flops = {}
    for r in range(args.rounds):
        for name in names:
            rate, step = measure(name, args)
            rates[name].append(rate)
            if step:
                flops[name] = step
            print(f"round {r + 1}: {name}: {rate:.0f} examples/s", flush=True)

    res = {"rounds": args.rounds, "epochs_timed": args.epochs, "cores": os.cpu_count(),
           "steps_per_execution": args.steps_per_execution, "components": args.components,
           "examples_per_s": rates, "flops_per_step": flops, "ratios": {}}
    for a in names:
        for b in names:
            if a != b:
                res["ratios"][f"{a}/{b}"] = statistics.median(
                    x / y for x, y in zip(rates[a], rates[b]))
    for name in names:
        line = f"{name}: median {statistics.median(rates[name]):.0f} examples/s"
        if name in flops:
            gflops = flops[name] * statistics.median(rates[name]) / 100 / 1e9
            res.setdefault("gflop_per_s", {})[name] = gflops
            line += f", {flops[name] / 1e6:.1f} MFLOP/step, {gflops:.1f} GFLOP/s"
        print(line)
    for key, value in res["ratios"].items():
        if key.split("/")[0] == names[0] or "pythae" in key.split("/")[1]:
            print(f"{key}: {value:.2f}x (median of per-round ratios)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


CONFIGS = {
    "kv_sn_xla": ("xla", "standard_normal"),
    "kv_sn_graph": ("graph", "standard_normal"),
    "kv_vamp_xla": ("xla", "vamp"),
    "kv_vamp_graph": ("graph", "vamp"),
    "pythae_vae": (None, "vae"),
    "pythae_vamp": (None, "vamp"),
}


def measure(name, args):
    """examples/s (and FLOPs per step for keras_vae) of one fresh process."""
    mode, prior = CONFIGS[name]
    if mode is None:
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            run([args.peer_python, os.path.join(HERE, "pythae_peer.py"), "--model", prior,
                 "--vamp-k", str(args.components), "--time-only",
                 "--epochs", str(args.epochs + 1), "--json", f.name])
            return json.load(open(f.name))["examples_per_s"], None
    cmd = [sys.executable, __file__, "--worker", mode, "--prior", prior,
           "--epochs", str(args.epochs), "--components", str(args.components),
           "--steps-per-execution", str(args.steps_per_execution)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = json.loads(run(cmd).strip().splitlines()[-1])
    return out["examples_per_s"], out["flops_per_step"]


if __name__ == "__main__":
    sys.exit(main())
