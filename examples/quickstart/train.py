"""Quickstart: train a VAE, score its test log-likelihood, plot and export it.

    python examples/quickstart/train.py                     # 8x8 digits, offline
    python examples/quickstart/train.py --dataset mnist --data-dir DIR
    python examples/quickstart/train.py --tensorboard logs  # tensorboard --logdir logs

DIR: a prepared TFDS data dir, or (mnist) a directory of MNIST's IDX files.

Steps:
1. Load the data with `keras_vae.datasets.load(..., binarization="auto")`:
   training images are binarized afresh every epoch (dynamic), test images
   once with a fixed seed (static).
2. Train a `keras_vae.models.VAE` (gated MLP encoder and decoder, Bernoulli
   likelihood, standard normal prior) with Adam, a KL warm-up
   (`keras_vae.callbacks.KLWarmUp`) and `jit_compile=True`.
3. Estimate the test negative log-likelihood with `--nll-samples` importance
   samples per image (`keras_vae.diagnostics.log_likelihood`) and count the
   active latent units (`keras_vae.diagnostics.active_units`).
4. Write `samples.png` (draws from the model) and `reconstructions.png` (test
   images above their reconstructions), save `vae.keras`, and export a
   SavedModel for TF Serving under `export/<version>/`.
"""

import time

START = time.perf_counter()  # the reported run time includes importing TensorFlow

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Keep TensorFlow's C++ start-up messages out of the example's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402
import keras_vae.export  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

# Per-dataset defaults. Digits: small and quick (well under 2 minutes on two
# CPU cores), KL warm-up over the first fifth of the epochs. MNIST: the gated
# MLP 784-300-300-40 of Tomczak & Welling (2018), Adam with learning rate 5e-4
# and batches of 100; no warm-up, which costs more than it helps in 10 epochs.
DIGITS = {"hidden_units": (128, 128), "latent_dim": 8, "epochs": 100, "warmup": 0.2}
MNIST = {"hidden_units": (300, 300), "latent_dim": 40, "epochs": 10, "warmup": 0.0}
DEFAULTS = {
    "digits": {**DIGITS, "batch_size": 100, "learning_rate": 3e-3},
    "mnist": {**MNIST, "batch_size": 100, "learning_rate": 5e-4},
    "binarized_mnist": {**MNIST, "batch_size": 100, "learning_rate": 5e-4},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--dataset",
        choices=sorted(DEFAULTS),
        default="digits",
        help="'digits' (default) is bundled with scikit-learn, offline; the "
        "MNIST sets need a TFDS data dir (--data-dir) or network",
    )
    add(
        "--data-dir",
        help="TFDS data directory (default: KERAS_VAE_DATA_DIR, "
        "TFDS_DATA_DIR, then TFDS's own default)",
    )
    add("--epochs", type=int, help="training epochs (digits: 100, mnist: 10)")
    add("--batch-size", type=int, help="training batch size (100)")
    add("--latent-dim", type=int, help="size of z (digits: 8, mnist: 40)")
    add(
        "--learning-rate",
        type=float,
        help="Adam learning rate (digits: 3e-3, mnist: 5e-4)",
    )
    add(
        "--warmup-epochs",
        type=int,
        help="epochs of the linear KL warm-up, beta 0 -> 1; 0 disables it "
        "(digits: a fifth of --epochs, mnist: 0)",
    )
    add(
        "--objective",
        choices=("elbo", "iwae"),
        default="elbo",
        help="training objective (elbo)",
    )
    add(
        "-k",
        "--num-samples",
        type=int,
        default=1,
        help="samples of z per example in training, IWAE's k (1)",
    )
    add(
        "--nll-samples",
        type=int,
        default=1000,
        help="importance samples per test image for the NLL (1000)",
    )
    add(
        "--nll-examples",
        type=int,
        help="score only the first N test images (default: all)",
    )
    add("--seed", type=int, default=0, help="random seed (0)")
    add(
        "--output-dir",
        default=os.path.join("outputs", "quickstart"),
        help="where the pictures, model and export go (outputs/quickstart)",
    )
    add(
        "--tensorboard",
        metavar="DIR",
        help="write TensorBoard logs to DIR: every metric per epoch (loss, "
        "elbo, reconstruction, kl, beta) and grids of samples and "
        "reconstructions; needs the `tensorboard` package "
        "(pip install keras-vae[examples])",
    )
    add("--quiet", action="store_true", help="no per-epoch training log")
    args = parser.parse_args(argv)
    defaults = dict(DEFAULTS[args.dataset])
    warmup_fraction = defaults.pop("warmup")
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    for name in ("epochs", "batch_size", "latent_dim", "num_samples", "nll_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.warmup_epochs is None:
        args.warmup_epochs = int(args.epochs * warmup_fraction)
    if args.warmup_epochs < 0:
        parser.error("--warmup-epochs must be a non-negative integer")
    if args.nll_examples is not None and args.nll_examples < 1:
        parser.error("--nll-examples must be a positive integer")
    return args


def tensorboard_callbacks(log_dir, x_examples, epochs, output_dir):
    """Callbacks that log a run to TensorBoard (`tensorboard --logdir DIR`).

    `keras.callbacks.TensorBoard` writes every metric the model reports, per
    epoch (the `train` run: loss, elbo, reconstruction, kl, beta);
    `keras_vae.callbacks.ImageGrid` adds sample and reconstruction grids
    (the `images` run, about ten times per training) and their PNGs.
    """
    return [
        keras.callbacks.TensorBoard(log_dir),
        keras_vae.callbacks.ImageGrid(
            os.path.join(output_dir, "grids"),
            x=x_examples[:32],
            num_images=32,
            every=max(1, epochs // 10),
            log_dir=os.path.join(log_dir, "images"),
        ),
    ]


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.output_dir, exist_ok=True)
    log = (lambda *a: None) if args.quiet else print

    # 1. Data: the training set is binarized dynamically (a new sample every
    #    epoch), the test set statically (once, with a fixed seed).
    load = {"data_dir": args.data_dir, "seed": args.seed}
    train = keras_vae.datasets.load(args.dataset, "train", batch_size=args.batch_size, **load)
    x_test = keras_vae.datasets.load(args.dataset, "test", as_numpy=True, **load)

    # 2. Model and training.
    model = keras_vae.models.VAE(
        latent_dim=args.latent_dim,
        hidden_units=args.hidden_units,
        objective=args.objective,
        num_importance_samples=args.num_samples,
        seed=args.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), jit_compile=True)
    # beta, the weight of the KL term, rises linearly from 0 to 1.
    warmup = [keras_vae.callbacks.KLWarmUp(args.warmup_epochs)] if args.warmup_epochs else []
    callbacks = list(warmup)
    if args.tensorboard:
        callbacks += tensorboard_callbacks(args.tensorboard, x_test, args.epochs, args.output_dir)
    schedule = f"KL warm-up over {args.warmup_epochs}" if warmup else "no KL warm-up"
    log(
        f"Training a VAE ({args.objective}, k={args.num_samples}, gated MLP "
        f"{'-'.join(map(str, args.hidden_units))}, latent_dim={args.latent_dim}) "
        f"on {args.dataset} for {args.epochs} epoch(s), {schedule}."
    )
    train_start = time.perf_counter()
    history = model.fit(
        train,
        epochs=args.epochs,
        shuffle=False,  # keras_vae.datasets.load already reshuffles every epoch
        callbacks=callbacks,
        verbose=0 if args.quiet else 2,
    )
    train_time = time.perf_counter() - train_start
    bound = "elbo" if args.objective == "elbo" else "iwae_bound"
    log(
        f"Trained in {train_time:.1f} s; last epoch's training {bound}: "
        f"{history.history[bound][-1]:.2f} nats."
    )

    # 3. Test log-likelihood and active units.
    x_nll = x_test[: args.nll_examples]
    log(
        f"Estimating log p(x) of {len(x_nll)} test images with "
        f"{args.nll_samples} importance samples each..."
    )
    nll = keras_vae.diagnostics.log_likelihood(
        model, x_nll, num_importance_samples=args.nll_samples, batch_size=100
    )
    au = keras_vae.diagnostics.active_units(model, x_test)
    if not math.isfinite(nll.nll):
        raise RuntimeError(f"The test NLL is not finite: {nll.nll}")

    # 4. Pictures, .keras file and SavedModel export.
    samples = keras.ops.convert_to_numpy(model.sample(100))
    samples_png = os.path.join(args.output_dir, "samples.png")
    example_utils.save_grid(samples_png, samples, 10, "Samples: mean of p(x | z), z ~ p(z)")
    shown = x_test[:50]
    recon = keras.ops.convert_to_numpy(model.reconstruct(shown))
    rows = [r for i in range(0, 50, 10) for r in (shown[i : i + 10], recon[i : i + 10])]
    recon_png = os.path.join(args.output_dir, "reconstructions.png")
    example_utils.save_grid(
        recon_png,
        np.concatenate(rows),
        10,
        "Test images (rows 1, 3, ...) above their reconstructions",
    )
    model_path = os.path.join(args.output_dir, "vae.keras")
    model.save(model_path)
    export_path = keras_vae.export.export_for_serving(
        model, os.path.join(args.output_dir, "export")
    )

    total = time.perf_counter() - START
    print(
        f"active units: {au.num_active} of {args.latent_dim} "
        "(variance of E_q[z_u] over the test set > 0.01)"
    )
    print(f"samples:          {samples_png}")
    print(f"reconstructions:  {recon_png}")
    print(f"Keras model:      {model_path}")
    print(f"TF Serving model: {export_path}")
    print(f"time: {total:.1f} s in all, training {train_time:.1f} s")
    print(
        f"test NLL: {nll.nll:.2f} nats ({args.nll_samples} importance samples, "
        f"{len(x_nll)} test images)"
    )


if __name__ == "__main__":
    main()
