"""Sample quality (FID-style, KID, precision/recall) beside the test NLL of a VAE on MNIST.

Trains the gated-MLP VAE of `benchmarks/mnist_nll.py` (784-300-300-40,
Bernoulli likelihood, dynamic binarization, Adam 5e-4, batch 100) for
`--epochs` epochs, and at each epoch of `--report-at` scores:

- the test NLL (`diagnostics.log_likelihood`, `--nll-samples` importance
  samples on the first `--nll-examples` statically binarized test images)
  and its bits/dim;
- `--num-samples` samples (the Bernoulli means of p(x | z), grey levels)
  against the grey-level test images, with `diagnostics.sample_quality`
  over the shipped `diagnostics.mnist_feature_extractor()`.

It also prints the data-vs-data baseline: the first `--num-samples`
training images against the test images, same features and sizes.

    python benchmarks/sample_quality.py --mnist-dir <MNIST_DIR> --epochs 10 --report-at 1,10
"""

import argparse
import json
import time

import keras

import keras_vae
from keras_vae import diagnostics


def quality_figures(result):
    return {
        "fid": round(result.frechet_distance, 3),
        "kid": round(result.kernel_distance, 5),
        "kid_std": round(result.kernel_distance_std, 5),
        "precision": round(result.precision, 4),
        "recall": round(result.recall, 4),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", required=True, help="directory of MNIST's IDX files")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--report-at", default="1,10", help="comma-separated epochs")
    p.add_argument("--num-samples", type=int, default=10000)
    p.add_argument("--nll-samples", type=int, default=1000)
    p.add_argument("--nll-examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    report_at = {int(e) for e in args.report_at.split(",")}
    keras.utils.set_random_seed(args.seed)

    def load(split, binarization):
        return keras_vae.datasets.load(
            "mnist",
            split,
            binarization=binarization,
            data_dir=args.mnist_dir,
            download=False,
            as_numpy=True,
        )

    train = keras_vae.datasets.load(
        "mnist",
        "train",
        binarization=None,
        data_dir=args.mnist_dir,
        download=False,
        batch_size=100,
        seed=args.seed,
    )
    x_test_grey = load("test", None)
    x_test_binary = load("test", "static")[: args.nll_examples]
    extractor = diagnostics.mnist_feature_extractor()

    real = diagnostics.extract_features(extractor, x_test_grey)
    baseline = diagnostics.extract_features(extractor, load("train", None)[: args.num_samples])
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

    model = keras_vae.models.VAE(
        latent_dim=40, hidden_units=(300, 300), dynamic_binarization=True, seed=args.seed
    )
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=True)
    start_wall, start_cpu = time.time(), time.process_time()
    for epoch in range(1, args.epochs + 1):
        model.fit(train, epochs=epoch, initial_epoch=epoch - 1, verbose=0)
        if epoch not in report_at:
            continue
        nll = diagnostics.log_likelihood(
            model, x_test_binary, num_importance_samples=args.nll_samples, batch_size=500
        )
        quality = diagnostics.sample_quality(
            model, x_test_grey, num_samples=args.num_samples, seed=args.seed
        )
        print(
            json.dumps(
                {
                    "row": f"VAE after {epoch} epochs",
                    "test_nll": round(nll.nll, 2),
                    "bits_per_dim": round(nll.bits_per_dim, 4),
                    **quality_figures(quality),
                    "wall_s": round(time.time() - start_wall),
                    "cpu_s": round(time.process_time() - start_cpu),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
