"""Train a VAE/IWAE on dynamically binarized MNIST and report its test NLL.

Protocols:
- `--architecture gated` (default): the VampPrior paper's gated MLP
  784-300-300-40, Adam lr 5e-4, batch 100 (the pythae peer protocol in
  ../shared/REFERENCE.md).
- `--architecture burda`: Burda et al.'s 1-layer model, tanh MLP 784-200-200-50,
  batch 20, Adam(eps=1e-4) with their schedule: 3^i epochs at lr 1e-3 * 10^(-i/7),
  i = 0..7 (3280 epochs in all).

Runs resume from `--backup-dir` (`keras.callbacks.BackupAndRestore`); every
`--eval-every` epochs the test NLL (`--curve-samples` importance samples on
the first `--curve-examples` test images) is appended to `--curve` (CSV).
At the end the test NLL with `--nll-samples` samples is printed and written
to `--json` with the wall time and epochs reached.

    python benchmarks/mnist_nll.py --epochs 10 --nll-samples 1000 --nll-examples 2000
    python benchmarks/mnist_nll.py --architecture burda --objective iwae -k 50 \\
        --epochs 3280 --backup-dir runs/iwae50 --eval-every 20 --curve runs/iwae50.csv
"""

import argparse
import csv
import json
import math
import os
import time

import keras
import numpy as np

import keras_vae


def burda_learning_rate(epoch):
    """Burda et al.: lr 1e-3 * 10^(-i/7) for 3^i epochs, i = 0, 1, ..."""
    i, start = 0, 0
    while epoch >= start + 3**i:
        start += 3**i
        i += 1
    return 1e-3 * 10 ** (-i / 7)


def build_model(args):
    common = dict(
        objective=args.objective,
        num_importance_samples=args.k,
        seed=args.seed,
        dynamic_binarization=True,
    )
    if args.objective == "iwae":
        common["gradient_estimator"] = args.gradient_estimator
    if args.architecture == "gated":
        prior = keras_vae.priors.VampPrior(args.components) if args.prior == "vamp" else None
        return keras_vae.models.VAE(latent_dim=40, hidden_units=(300, 300), prior=prior, **common)
    encoder = keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(200, activation="tanh"),
            keras.layers.Dense(200, activation="tanh"),
        ]
    )
    decoder = keras.Sequential(
        [
            keras.layers.Dense(200, activation="tanh"),
            keras.layers.Dense(200, activation="tanh"),
            keras.layers.Dense(784),
            keras.layers.Reshape((28, 28, 1)),
        ]
    )
    return keras_vae.models.VAE(
        encoder=encoder,
        decoder=decoder,
        latent_dim=50,
        min_log_var=-20.0,
        max_log_var=10.0,
        **common,
    )


def peer_protocol_test_set(raw_dir):
    """MNIST test images binarized exactly as benchmarks/pythae_peer.py does.

    The peer reads the original idx file (TFDS stores the images in another
    order) and one `RandomState(777)` binarizes the 10k validation images
    first, then the test images. The test draws depend only on how many
    uniforms the validation set consumed, so this reproduces the peer's test
    set bit for bit and the NLLs compare on identical data.
    """
    x = keras_vae.datasets.load(
        "mnist",
        "test",
        binarization=None,
        data_dir=raw_dir,
        download=False,
        as_numpy=True,
        flatten=True,
    )
    x = np.rint(x.astype(np.float64) * 255.0) / 255.0  # k / 255 in float64, as the peer
    rng = np.random.RandomState(777)
    rng.random_sample((10000, 784))  # the validation set's draws
    x = rng.random_sample(x.shape) < x
    return x.reshape(-1, 28, 28, 1).astype("float32")


class NLLCurve(keras.callbacks.Callback):
    """Appends (epoch, test NLL, seconds) to a CSV every `every` epochs."""

    def __init__(self, x_test, every, num_samples, path):
        super().__init__()
        self.x_test, self.every, self.num_samples, self.path = x_test, every, num_samples, path
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        result = keras_vae.diagnostics.log_likelihood(
            self.model, self.x_test, num_importance_samples=self.num_samples, batch_size=500
        )
        new = not os.path.exists(self.path)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "test_nll", "train_loss", "elapsed_s"])
            w.writerow(
                [
                    epoch + 1,
                    f"{result.nll:.3f}",
                    f"{logs.get('loss', float('nan')):.3f}",
                    f"{time.time() - self.start:.0f}",
                ]
            )
        print(
            f"epoch {epoch + 1}: test NLL ({self.num_samples} samples, "
            f"{len(self.x_test)} images) = {result.nll:.2f}",
            flush=True,
        )


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--architecture", choices=("gated", "burda"), default="gated")
    p.add_argument("--objective", choices=("elbo", "iwae"), default="elbo")
    p.add_argument("-k", type=int, default=1, help="samples per example in training")
    p.add_argument(
        "--gradient-estimator",
        choices=("standard", "stl", "dreg"),
        default="standard",
        help="IWAE encoder-gradient estimator (--objective iwae)",
    )
    p.add_argument(
        "--prior",
        choices=("standard_normal", "vamp"),
        default="standard_normal",
        help="prior of the gated architecture (VampPrior: paper init, Hardtanh)",
    )
    p.add_argument("--components", type=int, default=500, help="VampPrior K")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--data-dir", default=None, help="prepared TFDS dir (or TFDS_DATA_DIR)")
    p.add_argument(
        "--mnist-raw-dir",
        default=None,
        help="original MNIST idx files: score on the peer's exact test set",
    )
    p.add_argument("--nll-samples", type=int, default=5000)
    p.add_argument("--nll-examples", type=int, default=10000)
    p.add_argument("--backup-dir", default=None)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--curve", default=None)
    p.add_argument("--curve-samples", type=int, default=1000)
    p.add_argument("--curve-examples", type=int, default=2000)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    burda = args.architecture == "burda"
    batch_size = args.batch_size or (20 if burda else 100)
    keras.utils.set_random_seed(args.seed)

    train = keras_vae.datasets.load(
        "mnist",
        "train",
        binarization=None,
        data_dir=args.data_dir,
        batch_size=batch_size,
        seed=args.seed,
        flatten=False,
    )
    if args.mnist_raw_dir:
        x_test = peer_protocol_test_set(args.mnist_raw_dir)
    else:
        x_test = keras_vae.datasets.load(
            "mnist", "test", binarization="static", data_dir=args.data_dir, as_numpy=True
        )
    model = build_model(args)
    if burda:
        optimizer = keras.optimizers.Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-4)
    else:
        optimizer = keras.optimizers.Adam(args.lr or 5e-4)
    model.compile(
        optimizer=optimizer, jit_compile=True, steps_per_execution=args.steps_per_execution
    )
    callbacks = []
    if burda and args.lr is None:
        callbacks.append(keras.callbacks.LearningRateScheduler(burda_learning_rate))
    if args.backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(args.backup_dir))
    if args.eval_every and args.curve:
        callbacks.append(
            NLLCurve(x_test[: args.curve_examples], args.eval_every, args.curve_samples, args.curve)
        )
    start = time.time()
    history = model.fit(train, epochs=args.epochs, callbacks=callbacks, verbose=2)
    train_seconds = time.time() - start
    x_eval = x_test[: args.nll_examples]
    start = time.time()
    result = keras_vae.diagnostics.log_likelihood(
        model, x_eval, num_importance_samples=args.nll_samples, batch_size=500
    )
    units = keras_vae.diagnostics.active_units(model, x_test)
    out = {
        "architecture": args.architecture,
        "prior": args.prior,
        "objective": args.objective,
        "k": args.k,
        "epochs": args.epochs,
        "batch_size": batch_size,
        "epochs_run_this_invocation": len(history.history.get("loss", [])),
        "test_nll": result.nll,
        "nll_samples": args.nll_samples,
        "nll_examples": len(x_eval),
        "active_units": units.num_active,
        "train_seconds_this_invocation": train_seconds,
        "eval_seconds": time.time() - start,
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if math.isfinite(result.nll) else 1


if __name__ == "__main__":
    raise SystemExit(main())
