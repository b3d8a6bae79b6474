"""Training throughput of the paper's gated-MLP VAE (784-300-300-40), batch 100.

examples/s = 50,000 / median epoch seconds (the first, compiling epoch is
not timed), on dynamically binarized MNIST-shaped data (real MNIST when a
TFDS dir is given, else uniform intensities: the arithmetic is the same).
Configurations: keras_vae with `jit_compile=True` and `False`, and, with
`--peer-python`, pythae's VAE in its own virtual environment (see
benchmarks/PEER.md). Every measurement runs in a fresh process, and the
configurations are interleaved over `--rounds` rounds, so machine drift hits
all of them alike; ratios are taken per round and their median reported.
(A process that has run TensorFlow keeps its thread pools spinning for a
while, which slows anything started from it: hence fresh processes.)

    python benchmarks/throughput.py --rounds 3 --epochs 3 \\
        --peer-python /work/peer_venv/bin/python --json results.json
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
    model = keras_vae.models.VAE(latent_dim=40, hidden_units=(300, 300),
                                 dynamic_binarization=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=args.worker == "xla",
                  steps_per_execution=args.steps_per_execution)
    ds = (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0)
          .batch(100).prefetch(tf.data.AUTOTUNE))
    timer = EpochTimer()
    model.fit(ds, epochs=args.epochs + 1, verbose=0, shuffle=False, callbacks=[timer])
    print(json.dumps({"examples_per_s": len(x) / statistics.median(timer.times[1:])}))


def run(cmd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement")
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    p.add_argument("--peer-python", default=None,
                   help="python of the pythae peer venv (benchmarks/PEER.md)")
    p.add_argument("--json", default=None)
    p.add_argument("--worker", choices=("xla", "graph"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    configs = {"keras_vae_xla": "xla", "keras_vae_no_xla": "graph"}
    if args.peer_python:
        configs["pythae"] = None
    rates = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, mode in configs.items():
            if mode is None:
                with tempfile.NamedTemporaryFile(suffix=".json") as f:
                    run([args.peer_python, os.path.join(HERE, "pythae_peer.py"),
                         "--model", "vae", "--time-only", "--epochs", str(args.epochs + 1),
                         "--json", f.name])
                    rate = json.load(open(f.name))["examples_per_s"]
            else:
                cmd = [sys.executable, __file__, "--worker", mode, "--epochs", str(args.epochs),
                       "--steps-per-execution", str(args.steps_per_execution)]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                rate = json.loads(run(cmd).strip().splitlines()[-1])["examples_per_s"]
            rates[name].append(rate)
            print(f"round {r + 1}: {name}: {rate:.0f} examples/s", flush=True)

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    res = {"rounds": args.rounds, "epochs_timed": args.epochs, "cores": os.cpu_count(),
           "steps_per_execution": args.steps_per_execution, "examples_per_s": rates,
           "xla_over_no_xla": ratio("keras_vae_xla", "keras_vae_no_xla")}
    print(f"XLA / no XLA: {res['xla_over_no_xla']:.2f}x (median of per-round ratios)")
    if args.peer_python:
        res["xla_over_pythae"] = ratio("keras_vae_xla", "pythae")
        print(f"keras_vae (XLA) / pythae VAE: {res['xla_over_pythae']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
