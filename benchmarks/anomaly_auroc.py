"""Anomaly detection on MNIST: a VAE trained without one digit class.

For each held-out digit c: train a `keras_vae.models.VAE` (Bernoulli
likelihood, dynamic binarization) on the MNIST training images of the nine
other digits, score every test image (statically binarized, all ten digits)
and report the AUROC of separating the test images of digit c (positives,
the anomalies) from the others by each anomaly score:

    -log p(x)   negative importance-sampled log-likelihood,
                `keras_vae.diagnostics.log_likelihood` (`--nll-samples`)
    -log RP(x)  negative log reconstruction probability of An & Cho (2015),
                RP(x) = (1/L) sum_l p(x | z_l), z_l ~ q(z | x),
                `keras_vae.diagnostics.reconstruction_probability` (`--rp-samples`)

AUROC = `sklearn.metrics.roc_auc_score(is_digit_c, score)`: 1 is a perfect
separation, 0.5 chance (below 0.5: the held-out digit looks *more* typical
than the training digits, a known failure of likelihoods, e.g. for 1s).

    python benchmarks/anomaly_auroc.py --mnist-dir DIR --holdout 0 1 7 9 --epochs 10

DIR holds the four IDX files (`train-images-idx3-ubyte.gz`, ...). The
training set is the first 50,000 images of the IDX training file (the
library's `"train"` split) less the held-out digit. Writes a Markdown table
and `--out` (JSON).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--mnist-dir", required=True, help="directory of MNIST's four IDX files")
    add("--holdout", type=int, nargs="+", default=list(range(10)), help="digits (all)")
    add("--epochs", type=int, default=10, help="training epochs per held-out digit (10)")
    add("--batch-size", type=int, default=100, help="(100)")
    add("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    add("--latent-dim", type=int, default=20, help="(20)")
    add("--hidden-units", type=int, nargs="+", default=[300, 300], help="(300 300)")
    add("--nll-samples", type=int, default=100, help="importance samples of -log p(x) (100)")
    add("--rp-samples", type=int, default=100, help="draws L of the reconstruction prob. (100)")
    add("--test-examples", type=int, help="score the first N test images (all 10,000)")
    add("--seed", type=int, default=0, help="(0)")
    add("--out", default="anomaly_auroc.json", help="JSON results (anomaly_auroc.json)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np
    from sklearn.metrics import roc_auc_score

    import keras_vae

    load = dict(data_dir=args.mnist_dir, as_numpy=True, labels=True, flatten=True)
    # Grey levels for training (the model binarizes each batch afresh),
    # one fixed binarization for the test images.
    x_train, y_train = keras_vae.datasets.load("mnist", "train", binarization=None, **load)
    x_test, y_test = keras_vae.datasets.load("mnist", "test", binarization="static", **load)
    if args.test_examples:
        x_test, y_test = x_test[: args.test_examples], y_test[: args.test_examples]

    rows = []
    for digit in args.holdout:
        keras.utils.set_random_seed(args.seed)
        x = x_train[y_train != digit]
        model = keras_vae.models.VAE(
            latent_dim=args.latent_dim,
            hidden_units=tuple(args.hidden_units),
            dynamic_binarization=True,
            seed=args.seed,
        )
        model.compile(optimizer=keras.optimizers.Adam(args.lr), jit_compile=True)
        start = time.process_time(), time.perf_counter()
        history = model.fit(x, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        log_px = keras_vae.diagnostics.log_likelihood(
            model, x_test, num_importance_samples=args.nll_samples
        ).log_likelihood
        log_rp = keras_vae.diagnostics.reconstruction_probability(
            model, x_test, num_samples=args.rp_samples
        )
        cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
        anomalous = y_test == digit
        row = {
            "holdout": digit,
            "train_images": len(x),
            "epochs": args.epochs,
            "final_train_elbo": float(history.history["elbo"][-1]),
            "test_nll_inliers": float(-log_px[~anomalous].mean()),
            "test_nll_holdout": float(-log_px[anomalous].mean()),
            "auroc_neg_log_px": float(roc_auc_score(anomalous, -log_px)),
            "auroc_neg_log_rp": float(roc_auc_score(anomalous, -log_rp)),
            "cpu_s": round(cpu, 1),
            "wall_s": round(wall, 1),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    print("| held-out digit | NLL inliers | NLL held-out | AUROC -log p(x) | AUROC -log RP(x) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['holdout']} | {r['test_nll_inliers']:.2f} | {r['test_nll_holdout']:.2f} "
            f"| {r['auroc_neg_log_px']:.3f} | {r['auroc_neg_log_rp']:.3f} |"
        )
    if len(rows) > 1:
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k.startswith("auroc")}
        print(f"| mean | | | {mean['auroc_neg_log_px']:.3f} | {mean['auroc_neg_log_rp']:.3f} |")
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
