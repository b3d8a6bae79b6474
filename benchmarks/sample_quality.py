"""Sample quality (FID-style, KID, precision/recall) beside the test NLL of MNIST models.

`--model` picks the model, built with the builder of the example that RESULTS
uses for its family (`examples/vamp_prior_mnist`, `examples/ladder_vae_mnist`,
`examples/vq_vae_mnist`):

- `vae`: the gated-MLP VAE 784-300-300-40 (Bernoulli likelihood);
- `iwae`: the same network trained with the IWAE bound, k = 5;
- `vamp`: the VAE with a VampPrior, K = 500 pseudo-inputs;
- `hvae`: the two-level `HierarchicalVAE` (gated MLP) with a VampPrior;
- `lvae`: the five-level `LadderVAE` (64-32-16-8-4, batch norm, ladder
  inference) of the Ladder VAE example;
- `vqvae`: `VQVAE` (the VQ-VAE example's defaults), then a `PixelCNN` prior
  over its 7x7 code maps for `--prior-epochs`.

All train on the first 50,000 MNIST training images for `--epochs` epochs,
Adam 5e-4, batches of 100, re-binarized every step
(dynamic binarization), no KL warm-up; `vqvae` trains on the grey levels
with the VQ-VAE example's Adam 2e-4 and batches of 128 (PixelCNN: 1e-3).
At each epoch of `--report-at` the script scores:

- the test NLL (`diagnostics.log_likelihood`, `--nll-samples` importance
  samples on the first `--nll-examples` statically binarized test images)
  and its bits/dim, NLL / (784 ln 2). A VQ-VAE has no such NLL: its row gives
  the PixelCNN's NLL of the test images' code maps (nats per map) and the
  bound -(log p(x | z_q(x)) + log p(z_q(x))) / (784 ln 2) on the bits/dim of
  the grey-level test images (256 levels, discretized logistic), which is
  not comparable with the other rows' binarized-image NLL;
- `--num-samples` samples (the means of p(x | z), grey levels; for `vqvae`
  images decoded from PixelCNN code maps) against the grey-level test
  images, with `diagnostics.sample_quality` over the shipped
  `diagnostics.mnist_feature_extractor()`.

`--weights PATH` (with `--model hvae`) scores trained weights instead of
training, e.g. the `best.weights.h5` of `examples/vamp_prior_mnist/train.py
--model hvae --prior vamp`; the row is labelled with the epochs of the
`history.csv` beside the file. That example trains on TFDS's statically
binarized MNIST: `--binarized-mnist-dir` adds the NLL on the first
`--nll-examples` images of that test set.

It also prints the data-vs-data baseline: the first `--num-samples`
training images against the test images, same features and sizes.

    python benchmarks/sample_quality.py --mnist-dir <MNIST_DIR> --epochs 10 --report-at 1,10
    python benchmarks/sample_quality.py --model lvae --mnist-dir <MNIST_DIR> --report-at 10
"""

import argparse
import csv
import importlib.util
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

import keras_vae
from keras_vae import diagnostics

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# `examples/vamp_prior_mnist/train.py` flags of each gated-MLP row.
VAMP_EXAMPLE_FLAGS = {
    "vae": ["--model", "vae", "--prior", "standard"],
    "iwae": ["--model", "vae", "--prior", "standard", "--objective", "iwae", "--num-samples", "5"],
    "vamp": ["--model", "vae", "--prior", "vamp"],
    "hvae": ["--model", "hvae", "--prior", "vamp"],
}
NAMES = {
    "vae": "VAE",
    "iwae": "IWAE (k = 5)",
    "vamp": "VAE + VampPrior (K = 500)",
    "hvae": "HVAE + VampPrior (K = 500)",
    "lvae": "LVAE (BN, no warm-up)",
    "vqvae": "VQ-VAE + PixelCNN prior",
}


def load_example(name):
    """`examples/<name>/train.py` as a module, for its builders."""
    spec = importlib.util.spec_from_file_location(f"{name}_train", EXAMPLES / name / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(name, seed):
    """The model of `--model`, built as its example builds it."""
    if name == "lvae":
        example = load_example("ladder_vae_mnist")
        return example.make_model(example.parse_args(["--model", "lvae", "--seed", str(seed)]))
    example = load_example("vamp_prior_mnist")
    example_args = example.parse_args(VAMP_EXAMPLE_FLAGS[name] + ["--seed", str(seed)])
    prior, _ = example.make_prior(example_args, None)  # x_train: "vamp_data" only
    return example.make_model(example_args, prior)


def build_vqvae(seed):
    """The VQ-VAE and PixelCNN prior of `examples/vq_vae_mnist`'s defaults."""
    a = load_example("vq_vae_mnist").parse_args(["--seed", str(seed)])
    vqvae = keras_vae.models.VQVAE(
        num_embeddings=a.num_embeddings,
        embedding_dim=a.embedding_dim,
        filters=a.hidden_units,
        residual_units=a.residual_units,
        likelihood=a.likelihood,
        quantizer=a.quantizer,
        restart_dead_codes=True,
        seed=seed,
    )
    vqvae.build((None, 28, 28, 1))
    prior = keras_vae.models.PixelCNN(
        a.num_embeddings,
        vqvae.code_shape,
        filters=a.prior_hidden_units,
        num_layers=a.prior_layers,
        seed=seed,
    )
    return vqvae, prior, a


class DecodedCodeSamples:
    """`sample(n)`: images decoded by a VQ-VAE from code maps its PixelCNN samples."""

    def __init__(self, vqvae, prior):
        self.vqvae, self.prior = vqvae, prior

    def sample(self, num_samples):
        return self.prior.sample_images(self.vqvae, num_samples)


def trained_epochs(weights_path):
    """(best epoch, last epoch), 1-based, from the `history.csv` beside the weights."""
    path = Path(weights_path).with_name("history.csv")
    if not path.exists():
        return None, None
    with open(path, newline="") as f:
        # A resumed run logs its re-run epochs again: the last copy counts.
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r.get("epoch")}
    best = max(rows, key=lambda e: float(rows[e]["val_elbo"]))
    return best + 1, max(rows) + 1


def quality_figures(result):
    return {
        "fid": round(result.frechet_distance, 3),
        "kid": round(result.kernel_distance, 5),
        "kid_std": round(result.kernel_distance_std, 5),
        "precision": round(result.precision, 4),
        "recall": round(result.recall, 4),
    }


def nll_figures(model, x, args, prefix=""):
    nll = diagnostics.log_likelihood(
        model, x, num_importance_samples=args.nll_samples, batch_size=500
    )
    return {
        f"{prefix}test_nll": round(nll.nll, 2),
        f"{prefix}bits_per_dim": round(nll.bits_per_dim, 4),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=tuple(NAMES), default="vae")
    p.add_argument("--mnist-dir", required=True, help="directory of MNIST's IDX files")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--report-at", default="1,10", help="comma-separated epochs")
    p.add_argument("--prior-epochs", type=int, help="PixelCNN epochs of vqvae (--epochs)")
    p.add_argument("--weights", help="score these trained weights (--model hvae), no training")
    p.add_argument("--binarized-mnist-dir", help="TFDS dir: also the NLL on binarized_mnist")
    p.add_argument("--num-samples", type=int, default=10000)
    p.add_argument("--nll-samples", type=int, default=1000)
    p.add_argument("--nll-examples", type=int, default=2000)
    p.add_argument("--max-train-examples", type=int, help="train on the first N (smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.weights and args.model != "hvae":
        p.error("--weights is for --model hvae")
    report_at = {int(e) for e in args.report_at.split(",")}
    keras.utils.set_random_seed(args.seed)

    def load(split, binarization, **kwargs):
        return keras_vae.datasets.load(
            "mnist",
            split,
            binarization=binarization,
            data_dir=args.mnist_dir,
            download=False,
            **kwargs,
        )

    x_test_grey = load("test", None, as_numpy=True)
    x_test_binary = load("test", "static", as_numpy=True)[: args.nll_examples]
    x_train_grey = load("train", None, as_numpy=True)[: args.max_train_examples]
    extractor = diagnostics.mnist_feature_extractor()

    real = diagnostics.extract_features(extractor, x_test_grey)
    baseline = diagnostics.extract_features(extractor, x_train_grey[: args.num_samples])
    kid = diagnostics.kernel_distance(baseline, real, seed=args.seed)
    pr = diagnostics.precision_recall(real, baseline)
    print(
        json.dumps(
            {
                "row": "data: train images vs test images",
                "fid": round(diagnostics.frechet_distance(real, baseline), 3),
                "kid": round(kid.mean, 5),
                "kid_std": round(kid.std, 5),
                "precision": round(pr.precision, 4),
                "recall": round(pr.recall, 4),
            }
        ),
        flush=True,
    )

    def sample_quality(sampler):
        return quality_figures(
            diagnostics.sample_quality(
                sampler, x_test_grey, extractor, num_samples=args.num_samples, seed=args.seed
            )
        )

    start_wall, start_cpu = time.time(), time.process_time()

    def report(row, figures):
        figures["wall_s"] = round(time.time() - start_wall)
        figures["cpu_s"] = round(time.process_time() - start_cpu)
        print(json.dumps({"row": row, **figures}), flush=True)

    if args.model == "vqvae":
        vqvae, prior, example_args = build_vqvae(args.seed)
        prior_epochs = args.prior_epochs or args.epochs
        for model, data, lr, epochs in (
            (vqvae, x_train_grey, example_args.lr, args.epochs),
            (prior, None, example_args.prior_lr, prior_epochs),
        ):
            if data is None:  # the prior learns the frozen VQ-VAE's code maps
                data = keras.ops.convert_to_numpy(vqvae.encode(x_train_grey))
            model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=True)
            model.fit(data, epochs=epochs, batch_size=example_args.batch_size, verbose=0)
        codes_test = keras.ops.convert_to_numpy(vqvae.encode(x_test_grey))
        nll_codes = -float(np.mean(keras.ops.convert_to_numpy(prior.log_prob(codes_test))))
        figures = {
            "prior_nll_nats_per_code_map": round(nll_codes, 2),
            "bits_per_code": round(nll_codes / math.prod(vqvae.code_shape) / math.log(2), 4),
            "grey_bits_per_dim_bound": round(
                float(np.mean(prior.bits_per_dim(vqvae, x_test_grey))), 4
            ),
            **sample_quality(DecodedCodeSamples(vqvae, prior)),
        }
        row = f"{NAMES['vqvae']}, {args.epochs} + {prior_epochs} epochs"
        report(row, figures)
        return

    model = build_model(args.model, args.seed)
    model.build((None, 28, 28, 1))
    if args.weights:
        model.load_weights(args.weights)
        best, last = trained_epochs(args.weights)
        figures = nll_figures(model, x_test_binary, args)
        if args.binarized_mnist_dir:
            x_static = keras_vae.datasets.load(
                "binarized_mnist",
                "test",
                data_dir=args.binarized_mnist_dir,
                download=False,
                as_numpy=True,
            )[: args.nll_examples]
            figures.update(nll_figures(model, x_static, args, "binarized_mnist_"))
        figures.update(sample_quality(model))
        report(
            f"{NAMES['hvae']}, {os.path.basename(args.weights)}: best epoch {best} of {last}",
            figures,
        )
        return

    # The examples' models train on fixed binary images; here every step
    # re-binarizes the grey levels, as the VAE row always did.
    model.dynamic_binarization = True
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=True)
    train = keras_vae.datasets.load(
        "mnist",
        "train",
        binarization=None,
        data_dir=args.mnist_dir,
        download=False,
        batch_size=100,
        seed=args.seed,
    )
    if args.max_train_examples:
        train = train.take(math.ceil(args.max_train_examples / 100))
    for epoch in range(1, args.epochs + 1):
        model.fit(train, epochs=epoch, initial_epoch=epoch - 1, verbose=0)
        if epoch in report_at:
            figures = {**nll_figures(model, x_test_binary, args), **sample_quality(model)}
            report(f"{NAMES[args.model]} after {epoch} epochs", figures)


if __name__ == "__main__":
    main()
