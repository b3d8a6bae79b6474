"""Conditional VAE on MNIST: train p(x | digit) and draw samples of each digit.

    python examples/conditional_vae/train.py --mnist-dir DIR   # MNIST IDX files
    python examples/conditional_vae/train.py                   # keras_vae.datasets.load
    python examples/conditional_vae/train.py --dataset digits  # 8x8 digits, offline

DIR holds MNIST's four IDX files (`train-images-idx3-ubyte.gz`, ...,
gzipped or not). Without it the data comes from `keras_vae.datasets.load`
(a prepared TFDS dir: `--data-dir`, `KERAS_VAE_DATA_DIR`, `TFDS_DATA_DIR`).

The model is `keras_vae.models.VAE(num_classes=10)`:

    q(z | x, y) = N(mu(x, y), diag sigma(x, y)^2),   p(x, z | y) = p(x | z, y) p(z)

with y the digit, one-hot encoded inside the model; `fit` takes the stream
of `(x, y)` batches of `keras_vae.datasets.load(..., labels=True)` as it
is (training images binarized afresh every epoch, test images once).

Outputs in --out-dir: `samples_by_class.png` (one row per digit),
`samples_class_<d>.png` (a grid per digit), `results.json` (test
-log p(x | y) and ELBO) and `cvae.keras`.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

NUM_CLASSES = 10
# Digits: small and quick on two CPU cores. MNIST: the gated MLP trunks of
# the VampPrior paper at 300 units, Adam 5e-4, batches of 100.
DEFAULTS = {
    "mnist": {"epochs": 20, "hidden_units": 300, "latent_dim": 16, "lr": 5e-4},
    "digits": {"epochs": 50, "hidden_units": 128, "latent_dim": 8, "lr": 3e-3},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--dataset", choices=sorted(DEFAULTS), default="mnist", help="mnist (default) or digits")
    add("--mnist-dir", help="directory of MNIST's IDX files (else keras_vae.datasets.load)")
    add("--epochs", type=int, help="training epochs (mnist 20, digits 50)")
    add("--batch-size", type=int, default=100, help="training batch size (100)")
    add("--lr", type=float, help="Adam learning rate (mnist 5e-4, digits 3e-3)")
    add("--latent-dim", type=int, help="size of z (mnist 16, digits 8)")
    add("--hidden-units", type=int, help="width of the gated layers (mnist 300, digits 128)")
    add("--samples-per-class", type=int, default=10, help="samples drawn per digit (10)")
    example_utils.add_nll_arguments(p, 1000)
    example_utils.add_run_arguments(
        p, out_dir=os.path.join("runs", "conditional_vae"), backup_dir_help=None
    )
    args = p.parse_args(argv)
    for name, value in DEFAULTS[args.dataset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    example_utils.require_positive(
        p,
        args,
        ("epochs", "batch_size", "latent_dim", "hidden_units", "samples_per_class", "nll_samples"),
    )
    if args.mnist_dir is not None:
        if args.dataset != "mnist":
            p.error("--mnist-dir needs --dataset mnist")
        args.data_dir = args.mnist_dir  # `load` reads IDX files found there
    return args


def class_samples(model, per_class):
    """`(classes, per_class) + image shape`: the means of p(x | z, y), z ~ p(z)."""
    return np.stack(
        [np.asarray(model.sample(per_class, condition=digit)) for digit in range(NUM_CLASSES)]
    )


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Data with labels: a stream of (x, y) batches for training, arrays
    #    (x_test, y_test) for the test scores.
    load = {"data_dir": args.data_dir, "seed": args.seed, "labels": True}
    train = keras_vae.datasets.load(args.dataset, "train", batch_size=args.batch_size, **load)
    steps = None
    if args.max_train_examples:
        steps = max(1, math.ceil(args.max_train_examples / args.batch_size))
    x_test, y_test = keras_vae.datasets.load(args.dataset, "test", as_numpy=True, **load)

    # 2. The conditional VAE and its training on (x, y).
    model = keras_vae.models.VAE(
        latent_dim=args.latent_dim,
        hidden_units=(args.hidden_units, args.hidden_units),
        num_classes=NUM_CLASSES,
        seed=args.seed,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr), steps_per_execution=args.steps_per_execution
    )
    print(
        f"Training a conditional VAE (latent_dim={args.latent_dim}, gated MLP "
        f"{args.hidden_units}x2, {NUM_CLASSES} classes) on {args.dataset} for "
        f"{args.epochs} epoch(s)."
    )
    start = time.perf_counter()
    history = model.fit(train, epochs=args.epochs, steps_per_epoch=steps, verbose=2)
    train_seconds = time.perf_counter() - start

    # 3. Test scores of p(x | y): the ELBO and the importance-sampled
    #    log-likelihood (a lower bound that tightens with --nll-samples).
    n = len(x_test) if args.nll_examples is None else min(args.nll_examples, len(x_test))
    x_scored, y_scored = x_test[:n], y_test[:n]
    elbo = model.evaluate(x_scored, y_scored, batch_size=100, verbose=0, return_dict=True)["elbo"]
    log_px = np.concatenate(
        [
            model.log_likelihood(
                x_scored[i : i + 100], args.nll_samples, condition=y_scored[i : i + 100]
            )
            for i in range(0, n, 100)
        ]
    )
    nll = float(-np.mean(log_px))

    # 4. Samples: one grid per digit, and all digits in one picture.
    samples = class_samples(model, args.samples_per_class)
    for digit in range(NUM_CLASSES):
        example_utils.save_grid(
            out / f"samples_class_{digit}.png",
            samples[digit],
            cols=min(10, args.samples_per_class),
            title=f"samples of p(x | y={digit})",
        )
    example_utils.save_grid(
        out / "samples_by_class.png", samples, title="one row per digit, y = 0 ... 9"
    )
    model.save(out / "cvae.keras")
    results = {
        "dataset": args.dataset,
        "mnist_dir": args.mnist_dir is not None,
        "epochs": len(history.history["loss"]),
        "train_seconds": round(train_seconds, 1),
        "test_elbo": float(elbo),
        "test_nll": nll,
        "nll_samples": args.nll_samples,
        "nll_examples": n,
        "args": {k: v for k, v in vars(args).items() if k not in ("data_dir", "mnist_dir")},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(
        f"test -log p(x | y): {nll:.2f} nats ({args.nll_samples} importance samples, "
        f"{n} test images); test ELBO {elbo:.2f}"
    )


if __name__ == "__main__":
    main()
