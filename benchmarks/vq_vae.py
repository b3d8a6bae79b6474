"""VQ-VAE training speed: keras_vae's quantizers against a keras-io-style one,
and mixed_bfloat16 against float32.

Every configuration trains the same `keras_vae.models.VQVAE` (the example's
MNIST size: 64 channels, K = 128 codes of size 16, 7x7 code maps, batch 128,
Adam 2e-4, `jit_compile=True`); only the quantizer or the dtype policy
changes. examples/s = images / median seconds of a timed epoch of
`--steps` steps (the first, compiling epoch is not timed). Each measurement
runs in a fresh process and the configurations are interleaved over
`--rounds` rounds; the ratios to `baseline` are taken per round and their
median is reported.

    baseline      `KerasIOStyleQuantizer` below: the keras.io VQ-VAE
                  example's layer (codebook (D, K), distances by broadcast
                  sums and a matmul, a one-hot matmul lookup), written anew
    kv_vq         keras_vae.layers.VectorQuantizer (gradient codebook)
    kv_ema        keras_vae.layers.VectorQuantizerEMA with dead-code restarts
                  (the example's default)
    kv_ema_bf16   kv_ema under keras.mixed_precision "mixed_bfloat16"

`--quality` instead trains kv_ema in float32 and in mixed_bfloat16 for
`--quality-epochs` on MNIST and reports test reconstruction MSE and the
codebook usage / perplexity over the test set, for the "same usage and
reconstruction error within 2 %" check.

    python benchmarks/vq_vae.py --rounds 3
    python benchmarks/vq_vae.py --quality --quality-epochs 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS = ("baseline", "kv_vq", "kv_ema", "kv_ema_bf16")
BATCH = 128


def make_quantizer_class():
    from keras import ops

    import keras_vae

    class KerasIOStyleQuantizer(keras_vae.layers.VectorQuantizer):
        """The keras.io example's quantizer step, with VQVAE's call interface
        (a subclass only so that VQVAE accepts it; none of its code runs)."""

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.embedding_dim, self.num_embeddings),
                initializer="random_uniform",
                name="embeddings",
            )

        def quantize_indices(self, x):
            flat = ops.reshape(x, (-1, self.embedding_dim))
            distances = (
                ops.sum(flat**2, axis=1, keepdims=True)
                + ops.sum(self.embeddings**2, axis=0)
                - 2 * ops.matmul(flat, self.embeddings)
            )
            return ops.reshape(ops.argmin(distances, axis=1), ops.shape(x)[:-1])

        def lookup(self, indices):
            return ops.take(ops.transpose(self.embeddings), indices, axis=0)

        def call(self, x, training=False, return_indices=False):
            indices = self.quantize_indices(x)
            one_hot = ops.one_hot(ops.reshape(indices, (-1,)), self.num_embeddings)
            quantized = ops.reshape(
                ops.matmul(one_hot, ops.transpose(self.embeddings)), ops.shape(x)
            )
            commitment = ops.mean((ops.stop_gradient(quantized) - x) ** 2)
            codebook = ops.mean((quantized - ops.stop_gradient(x)) ** 2)
            self.add_loss(self.commitment_cost * commitment + codebook)
            quantized = x + ops.stop_gradient(quantized - x)
            return (quantized, indices) if return_indices else quantized

    return KerasIOStyleQuantizer


def build_model(config, seed=0):
    import keras

    import keras_vae

    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if config.endswith("bf16") else "float32"
    )
    keras.utils.set_random_seed(seed)
    size = {"num_embeddings": 128, "embedding_dim": 16}
    if config == "baseline":
        quantizer = make_quantizer_class()(**size)
    elif config == "kv_vq":
        quantizer = keras_vae.layers.VectorQuantizer(**size, seed=seed)
    else:
        quantizer = keras_vae.layers.VectorQuantizerEMA(**size, restart_dead_codes=True, seed=seed)
    model = keras_vae.models.VQVAE(
        **size, filters=64, residual_units=32, quantizer=quantizer, seed=seed
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-4), jit_compile=True)
    return model


def load(split, data_dir, limit=None):
    import keras_vae

    x = keras_vae.datasets.load("mnist", split, binarization=None, data_dir=data_dir, as_numpy=True)
    return x[:limit]


def worker(args):
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    x = load("train", args.data_dir, args.steps * BATCH)
    model = build_model(args.worker)
    timer = EpochTimer()
    model.fit(x, batch_size=BATCH, epochs=args.epochs + 1, verbose=0, callbacks=[timer])
    print(json.dumps({"examples_per_s": len(x) / statistics.median(timer.times[1:])}))


def quality(args):
    import numpy as np

    import keras_vae

    x_train = load("train", args.data_dir)
    x_test = load("test", args.data_dir)
    out = {}
    for config in ("kv_ema", "kv_ema_bf16"):
        model = build_model(config)
        start = time.perf_counter()
        model.fit(x_train, batch_size=BATCH, epochs=args.quality_epochs, verbose=2)
        recon = np.asarray(model.reconstruct(x_test), "float32")
        usage = keras_vae.diagnostics.codebook_usage(model, x_test)
        out[config] = {
            "test_mse": float(np.mean((recon - x_test) ** 2)),
            "usage": usage.usage,
            "perplexity": usage.perplexity,
            "train_seconds": time.perf_counter() - start,
        }
        print(config, out[config], flush=True)
    a, b = out["kv_ema"], out["kv_ema_bf16"]
    out["relative_mse_difference"] = abs(b["test_mse"] - a["test_mse"]) / a["test_mse"]
    print(json.dumps(out, indent=2))


def measure(config, args):
    cmd = [sys.executable, __file__, "--worker", config, "--epochs", str(args.epochs)]
    cmd += ["--steps", str(args.steps), "--data-dir", args.data_dir]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"{config} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["examples_per_s"]


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement")
    p.add_argument("--steps", type=int, default=100, help="steps per epoch")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    p.add_argument("--quality", action="store_true")
    p.add_argument("--quality-epochs", type=int, default=3)
    p.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.data_dir is None:
        p.error("pass --data-dir (a prepared TFDS dir with mnist) or set TFDS_DATA_DIR")
    if args.worker:
        return worker(args)
    if args.quality:
        return quality(args)
    configs = args.configs.split(",")
    rates = {c: [] for c in configs}
    for r in range(args.rounds):
        for config in configs:
            rates[config].append(measure(config, args))
            print(f"round {r + 1} {config}: {rates[config][-1]:.0f} examples/s", flush=True)
    print("| config | examples/s (median) | ratio to baseline (median of rounds) |")
    print("|---|---|---|")
    for config in configs:
        ratio = ""
        if "baseline" in rates:
            ratios = [a / b for a, b in zip(rates[config], rates["baseline"])]
            ratio = f"{statistics.median(ratios):.2f}"
        print(f"| {config} | {statistics.median(rates[config]):.0f} | {ratio} |")


if __name__ == "__main__":
    main()
