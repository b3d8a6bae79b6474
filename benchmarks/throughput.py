"""Training throughput of the paper's gated-MLP VAE (784-300-300-40), batch 100.

Measures examples/s = examples per epoch / median epoch seconds, with and
without XLA (`jit_compile`), on dynamically binarized MNIST-shaped data
(real MNIST when `--data-dir` holds it, else uniform intensities: the
arithmetic is the same). Optionally runs the pythae peer in its own virtual
environment in the same invocation (see benchmarks/PEER.md) and reports the
ratio.

    python benchmarks/throughput.py --epochs 4 [--peer-python /work/peer_venv/bin/python]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_vae


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times = getattr(self, "times", []) + [time.perf_counter() - self._t]


def load_train(data_dir, n):
    if data_dir:
        x = keras_vae.datasets.load("mnist", "train", binarization=None,
                                    data_dir=data_dir, flatten=True, as_numpy=True)
        return x[:n]
    return np.random.RandomState(0).rand(n, 784).astype("float32")


def measure(x, jit, epochs, steps_per_execution, objective="elbo", k=1):
    keras.utils.set_random_seed(0)
    model = keras_vae.models.VAE(latent_dim=40, hidden_units=(300, 300),
                                 objective=objective, num_samples=k,
                                 dynamic_binarization=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    ds = (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0)
          .batch(100).prefetch(tf.data.AUTOTUNE))
    timer = EpochTimer()
    model.fit(ds, epochs=epochs + 1, verbose=0, callbacks=[timer])
    return len(x) / statistics.median(timer.times[1:])  # epoch 0 compiles


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--examples", type=int, default=50000)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    p.add_argument("--peer-python", default=None,
                   help="python of the pythae peer venv (benchmarks/PEER.md)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    x = load_train(args.data_dir, args.examples)
    res = {"tensorflow": tf.__version__, "keras": keras.__version__,
           "cores": os.cpu_count(), "epochs_timed": args.epochs,
           "steps_per_execution": args.steps_per_execution}
    for jit in (True, False):
        res[f"keras_vae_vae_jit_{jit}"] = measure(x, jit, args.epochs,
                                                  args.steps_per_execution)
        print(f"keras_vae VAE jit_compile={jit}: "
              f"{res[f'keras_vae_vae_jit_{jit}']:.0f} examples/s", flush=True)
    res["xla_speedup"] = res["keras_vae_vae_jit_True"] / res["keras_vae_vae_jit_False"]
    print(f"XLA speed-up: {res['xla_speedup']:.2f}x")
    if args.peer_python:
        out = subprocess.run(
            [args.peer_python, os.path.join(os.path.dirname(__file__), "pythae_peer.py"),
             "--model", "vae", "--time-only", "--epochs", str(args.epochs),
             "--json", "/tmp/pythae_peer_vae.json"],
            check=True, capture_output=True, text=True)
        peer = json.load(open("/tmp/pythae_peer_vae.json"))
        res["pythae_vae"] = peer["examples_per_s"]
        res["ratio_vs_pythae"] = res["keras_vae_vae_jit_True"] / res["pythae_vae"]
        print(f"pythae VAE: {res['pythae_vae']:.0f} examples/s; "
              f"keras_vae (XLA) / pythae = {res['ratio_vs_pythae']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
