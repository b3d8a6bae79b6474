"""Train a VQ-VAE on MNIST, then a gated PixelCNN prior over its codes.

van den Oord et al. (2017): a conv encoder (two strided 4x4 convolutions,
two residual blocks) maps a 28x28 image to a 7x7 map of code vectors, each
replaced by its nearest codebook entry; the decoder mirrors the encoder.
Once the VQ-VAE is trained, a gated PixelCNN (van den Oord et al., 2016) is
fitted to the (frozen) code maps of the training images, and new images are
decoded from code maps it samples.

    python examples/vq_vae_mnist/train.py                       # EMA codebook, restarts
    python examples/vq_vae_mnist/train.py --no-restarts         # the plain paper setup
    python examples/vq_vae_mnist/train.py --backup-dir runs/bk  # resumable

Reports on the test set: reconstruction MSE, codebook perplexity and usage
(`keras_vae.diagnostics.codebook_usage`), the prior's NLL of the test codes,
and (for a likelihood other than "mse") the paper's bits/dim bound. Outputs
in --out-dir: results.json, history_vqvae.csv, history_prior.csv,
reconstructions.png, samples.png, vqvae.weights.h5, prior.weights.h5.
"""

import argparse
import functools
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

LIKELIHOODS = ("mse", "bernoulli", "gaussian", "discretized_logistic")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    example_utils.add_training_arguments(p, 20, 128, 2e-4, "VQ-VAE epochs")
    add("--prior-epochs", type=int, default=30, help="PixelCNN prior epochs (30)")
    add("--prior-lr", type=float, default=1e-3, help="prior Adam learning rate")
    add("--num-embeddings", type=int, default=128, help="codebook size K (128)")
    add("--embedding-dim", type=int, default=16, help="code vector size D (16)")
    add("--hidden-units", type=int, default=64, help="encoder/decoder channels")
    add("--residual-units", type=int, default=32)
    add("--likelihood", choices=LIKELIHOODS, default="discretized_logistic")
    add("--quantizer", choices=("ema", "vq"), default="ema")
    add("--no-restarts", action="store_true", help="no dead-code restarts")
    add("--kmeans-init", action="store_true", help="k-means codebook init")
    add("--prior-hidden-units", type=int, default=64)
    add("--prior-layers", type=int, default=8)
    add("--num-samples", type=int, default=64, help="sampled images (a square)")
    add("--temperature", type=float, default=1.0, help="sampling temperature")
    example_utils.add_run_arguments(p, os.path.join("runs", "vq_vae_mnist"))
    add("--max-test-examples", type=int, help="score the first N test images")
    args = p.parse_args(argv)
    names = ("epochs", "prior_epochs", "batch_size", "num_samples")
    example_utils.require_positive(p, args, names)
    if math.isqrt(args.num_samples) ** 2 != args.num_samples:
        p.error("--num-samples must be a square (the PNG grid)")
    return args


def load_data(args):
    """Grey-level MNIST in [0, 1] (k / 255): all 60k training images, the test set."""
    load = functools.partial(example_utils.load_split, args, "mnist", binarization=None)
    x_train = np.concatenate([load("train"), load("validation")])
    return x_train[: args.max_train_examples], load("test")[: args.max_test_examples]


def fit_phase(args, model, x, tag, lr):
    """`fit` for one phase, resumable; a finished phase is loaded, not rerun."""
    backup = Path(args.backup_dir, tag) if args.backup_dir else None
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        jit_compile=True,
        steps_per_execution=args.steps_per_execution,
    )
    epochs = args.epochs if tag == "vqvae" else args.prior_epochs
    history = Path(args.out_dir, f"history_{tag}.csv")
    return example_utils.fit_phase(
        model,
        x,
        tag,
        backup,
        history=history,
        epochs=epochs,
        batch_size=args.batch_size,
    )


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    x_train, x_test = load_data(args)
    restarts = not args.no_restarts
    print(
        f"VQ-VAE ({args.quantizer}, K={args.num_embeddings}, restarts={restarts}, "
        f"{args.likelihood}) on {len(x_train)} MNIST images, {args.epochs} epochs; "
        f"prior {args.prior_epochs} epochs; out-dir {args.out_dir}"
    )
    vqvae = keras_vae.models.VQVAE(
        num_embeddings=args.num_embeddings,
        embedding_dim=args.embedding_dim,
        filters=args.hidden_units,
        residual_units=args.residual_units,
        likelihood=args.likelihood,
        quantizer=args.quantizer,
        restart_dead_codes=restarts,
        kmeans_init=args.kmeans_init,
        seed=args.seed,
    )
    vqvae.build((None,) + x_train.shape[1:])
    seconds = fit_phase(args, vqvae, x_train, "vqvae", args.lr)

    test = vqvae.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)
    recon = np.asarray(vqvae.reconstruct(x_test))
    mse = float(np.mean((recon - x_test) ** 2))
    usage = keras_vae.diagnostics.codebook_usage(vqvae, x_test, batch_size=500)
    print(
        f"test reconstruction MSE: {mse:.5f}; codebook perplexity {usage.perplexity:.1f}"
        f", usage {usage.usage:.3f} ({int(np.sum(usage.counts > 0))} of "
        f"{args.num_embeddings} codes)"
    )

    codes_train = np.asarray(vqvae.encode(x_train))
    codes_test = np.asarray(vqvae.encode(x_test))
    prior = keras_vae.models.PixelCNN(
        args.num_embeddings,
        vqvae.code_shape,
        filters=args.prior_hidden_units,
        num_layers=args.prior_layers,
        seed=args.seed,
    )
    seconds += fit_phase(args, prior, codes_train, "prior", args.prior_lr)
    nll_codes = -float(np.mean(np.asarray(prior.log_prob(codes_test))))
    positions = int(np.prod(vqvae.code_shape))
    bits_per_dim = None
    if args.likelihood != "mse":
        bits_per_dim = float(np.mean(prior.bits_per_dim(vqvae, x_test)))

    cols = math.isqrt(args.num_samples)
    samples = prior.sample_images(vqvae, args.num_samples, temperature=args.temperature)
    save_grid = functools.partial(example_utils.save_grid, cmap="gray")
    save_grid(os.path.join(args.out_dir, "samples.png"), samples, cols)
    pairs = np.stack([x_test[:32], recon[:32]], 1).reshape((-1,) + x_test.shape[1:])
    save_grid(os.path.join(args.out_dir, "reconstructions.png"), pairs, 8)
    vqvae.save_weights(os.path.join(args.out_dir, "vqvae.weights.h5"))
    prior.save_weights(os.path.join(args.out_dir, "prior.weights.h5"))

    results = {
        "args": vars(args),
        "test_reconstruction_mse": mse,
        "test_reconstruction_term": float(test["reconstruction_loss"]),
        "test_vq_loss": float(test["vq_loss"]),
        "codebook_perplexity": float(usage.perplexity),
        "codebook_usage": float(usage.usage),
        "codes_used": int(np.sum(usage.counts > 0)),
        "code_shape": list(vqvae.code_shape),
        "prior_test_nll_nats_per_map": nll_codes,
        "prior_test_bits_per_code": nll_codes / positions / math.log(2),
        "test_bits_per_dim": bits_per_dim,
        "train_examples": len(x_train),
        "test_examples": len(x_test),
        "train_seconds_this_call": seconds,
        "keras_vae_version": keras_vae.__version__,
    }
    path = os.path.join(args.out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    bpd = "" if bits_per_dim is None else f"; bits/dim <= {bits_per_dim:.3f}"
    print(
        f"prior test NLL: {nll_codes:.2f} nats per code map "
        f"({results['prior_test_bits_per_code']:.3f} bits per code){bpd}; "
        f"results in {path}"
    )


if __name__ == "__main__":
    main()
