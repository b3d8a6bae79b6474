"""Train a VHP-VAE and same-size VAE / IWAE baselines; compare them.

Klushyn et al. (2019): a VAE whose prior p(z) = ∫ p(z|ζ) N(ζ; 0, I) dζ is
learned with an importance-weighted bound, trained as min KL subject to a
reconstruction error E[C] <= κ², with a Lagrange multiplier λ updated each
step. The baselines share the encoder, decoder and latent size and use the
standard normal prior: a VAE (ELBO) and an IWAE (k samples).

    python examples/vhp_vae/train.py --data-dir DIR --dataset mnist --epochs 30
    python examples/vhp_vae/train.py --data-dir DIR --dataset freyfaces --models vhp
    python examples/vhp_vae/train.py --data-dir DIR --backup-dir $RUN_DIR/backup

DIR holds `mnist/` (MNIST's four original IDX files) and, for Frey Faces,
`freyfaces/freyfaces.npz`; for MNIST it may also be a prepared TFDS data dir
(default: KERAS_VAE_DATA_DIR, then TFDS_DATA_DIR).

`vhp` follows our reading of the paper's Algorithm 1: the prior's Θ, Φ
only update while the moving average of the constraint is below κ²
(`VHPVAE(prior_update="when_satisfied")`); `vhp_always` updates them every
step, the alternative rule. With `--backup-dir`, each model trains under
`keras.callbacks.BackupAndRestore` (kept after training), so an interrupted
run, or a later run with more `--epochs`, resumes where it stopped.

MNIST: the first 50k raw training images, dynamically binarized; the 10k
test images binarized once (seed 0). Frey Faces: 1965 faces, a seeded split
of 1565 train / 400 test, with the Gaussian likelihood of scale 1/sqrt(2π),
whose -log p(x|z) is exactly π ||x - mean||² (so κ² is a squared error).
Outputs in --out-dir: results.json, results.md, <model>/history.csv,
lambda.png (λ and the constraint per step), latent.png (PCA of the posterior
means), interpolations.png, samples.png.
"""

import argparse
import csv
import functools
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

MODELS = ("vhp", "vhp_always", "vae", "iwae")
DEFAULT_KAPPA = {"mnist": math.sqrt(75.0), "freyfaces": math.sqrt(12.0)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--dataset", choices=("mnist", "freyfaces"), default="mnist")
    add(
        "--models",
        default="vhp,vae,iwae",
        help="comma list of vhp, vhp_always, vae, iwae",
    )
    example_utils.add_training_arguments(p, 30, 100, 1e-3)
    add("--latent-dim", type=int, default=32)
    add("--hidden-units", type=int, default=300)
    add("--kappa", type=float, help="κ; default sqrt(75) MNIST, sqrt(12) Frey")
    add("--prior-samples", type=int, default=10, help="K of the prior's bound")
    add("--iwae-samples", type=int, default=5, help="k of the IWAE baseline")
    example_utils.add_nll_arguments(p, 1000, 2000)
    add("--nu", type=float, default=1e-3, help="λ learning rate per nat of violation")
    example_utils.add_run_arguments(
        p,
        out_dir_help="default runs/vhp_vae/<dataset>",
        data_dir_help="MNIST: a directory of the original IDX files (or its parent, "
        "holding mnist/), else a prepared TFDS data dir (default: "
        "KERAS_VAE_DATA_DIR, then TFDS_DATA_DIR); Frey Faces: the directory "
        "holding freyfaces/freyfaces.npz (required)",
        backup_dir_help="resumable BackupAndRestore directory (one per model)",
        steps_per_execution=None,
    )
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    bad = set(args.models) - set(MODELS)
    if bad or not args.models:
        p.error(f"--models takes {', '.join(MODELS)}. Received: {sorted(bad) or 'none'}")
    if args.dataset == "freyfaces" and not args.data_dir:
        p.error("--dataset freyfaces needs --data-dir (holding freyfaces/freyfaces.npz)")
    args.kappa = args.kappa or DEFAULT_KAPPA[args.dataset]
    args.out_dir = args.out_dir or os.path.join("runs", "vhp_vae", args.dataset)
    return args


def load_data(args):
    """(x_train, x_test, test_labels or None) as float32."""
    if args.dataset == "mnist":
        load = functools.partial(example_utils.load_split, args, "mnist", binarization=None)
        x = load("train")  # the first 50k of the train file
        x_test, labels = load("test", labels=True)  # labels colour latent.png
        x_test = np.random.default_rng(0).random(x_test.shape) < x_test
    else:
        faces = np.load(Path(args.data_dir) / "freyfaces" / "freyfaces.npz")["images"]
        faces = faces[np.random.default_rng(0).permutation(len(faces))][..., None] / 255.0
        x, x_test, labels = faces[:1565], faces[1565:], None
    x = x[: args.max_train_examples] if args.max_train_examples else x
    return x.astype("float32"), x_test.astype("float32"), labels


def make_model(name, args):
    common = dict(
        latent_dim=args.latent_dim,
        hidden_units=(args.hidden_units, args.hidden_units),
        dynamic_binarization=args.dataset == "mnist",
        seed=args.seed,
    )
    if args.dataset == "freyfaces":
        common["likelihood"] = keras_vae.likelihoods.Gaussian(scale=1 / math.sqrt(2 * math.pi))
    if name.startswith("vhp"):
        prior = keras_vae.priors.HierarchicalPrior(
            num_importance_samples=args.prior_samples, seed=args.seed
        )
        geco = keras_vae.layers.GECO(args.kappa, nu=args.nu, damping=1.0, name="geco")
        rule = "always" if name == "vhp_always" else "when_satisfied"
        return keras_vae.models.VHPVAE(constraint=geco, prior=prior, prior_update=rule, **common)
    if name == "iwae":
        return keras_vae.models.VAE(
            objective="iwae", num_importance_samples=args.iwae_samples, **common
        )
    return keras_vae.models.VAE(**common)


class MultiplierTrace(keras.callbacks.Callback):
    """λ and the moving average of the constraint after every step."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        g = self.model.constraint
        self.rows.append((int(g.steps), float(g.multiplier), float(g.constraint_average)))


def train(name, args, x, x_test):
    model = make_model(name, args)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), jit_compile=True)
    out = Path(args.out_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    resume = args.backup_dir is not None
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume)]
    if resume:
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                str(Path(args.backup_dir) / name), delete_checkpoint=False
            )
        )
    trace = MultiplierTrace() if name.startswith("vhp") else None
    callbacks += [trace] if trace else []
    start = time.time()
    model.fit(
        x,
        epochs=args.epochs,
        batch_size=args.batch_size,
        shuffle=True,
        verbose=2,
        callbacks=callbacks,
    )
    seconds = time.time() - start
    scores = model.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)
    nll = example_utils.score_nll(model, x_test, args).nll
    rec = model.reconstruct(x_test[:1000])
    result = {
        "model": name,
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "test_nll": nll,
        "test_elbo": scores.get("elbo", scores.get("iwae_bound")),
        "test_reconstruction_error": -scores["reconstruction"],
        "test_kl": scores["kl"],
        "test_mse_per_pixel": float(np.mean((np.asarray(rec) - x_test[:1000]) ** 2)),
    }
    if name.startswith("vhp"):
        result.update(kappa_squared=args.kappa**2, final_lambda=float(model.constraint.multiplier))
        result["constraint_ratio"] = result["test_reconstruction_error"] / args.kappa**2
        result["train_steps"] = int(model.optimizer.iterations)
        if model.prior_optimizer is not None:
            result["prior_updates"] = int(model.prior_optimizer.iterations)
    return model, result, trace


def save_figures(model, trace, args, x_test, labels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out_dir)
    steps, lams, averages = np.array(trace.rows).T
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.semilogy(steps, lams)
    a1.set(xlabel="step", ylabel="λ", title="Lagrange multiplier")
    a2.plot(steps, averages, label="moving average of C")
    a2.axhline(args.kappa**2, color="k", ls="--", label="κ²")
    a2.set(xlabel="step", ylabel="nats", title="reconstruction constraint")
    a2.set_ylim(0, 4 * args.kappa**2)
    a2.legend()
    fig.tight_layout()
    fig.savefig(out / "lambda.png", dpi=100)
    plt.close(fig)

    loc, _ = model.encode(x_test[:5000])
    loc = np.asarray(loc)
    centred = loc - loc.mean(axis=0)
    basis = np.linalg.svd(centred, full_matrices=False)[2][:2]
    proj = centred @ basis.T
    fig, ax = plt.subplots(figsize=(5, 5))
    colour = None if labels is None else labels[: len(proj)]
    ax.scatter(proj[:, 0], proj[:, 1], c=colour, s=2, cmap="tab10")
    ax.set(title="posterior means, first two principal axes")
    fig.savefig(out / "latent.png", dpi=100)
    plt.close(fig)

    shape = x_test.shape[1:3]
    rng = np.random.default_rng(1)
    rows = []
    for i, j in rng.choice(len(x_test), (6, 2), replace=False):
        a, b = np.asarray(model.encode(x_test[[i, j]])[0])
        t = np.linspace(0, 1, 10)[:, None]
        rows.append(np.asarray(model.decode((1 - t) * a + t * b)).reshape((10,) + shape))
    save_grid = example_utils.save_grid
    save_grid(out / "interpolations.png", np.concatenate(rows), 10,
              "linear interpolation in z", cmap="gray")  # fmt: skip
    samples = np.asarray(model.sample(60)).reshape((60,) + shape)
    save_grid(out / "samples.png", samples, 10, "samples from the hierarchical prior",
              cmap="gray")  # fmt: skip


def write_table(results, args):
    lines = [
        f"{args.dataset}, {args.epochs} epochs, latent {args.latent_dim}, "
        f"κ² = {args.kappa**2:.2f}; NLL with {args.nll_samples} samples on "
        f"{args.nll_examples} test images",
        "",
        "| model | epochs | test NLL | test ELBO | test C = -log p(x|z) | test KL | MSE/pixel | λ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lam = f"{r['final_lambda']:.3f}" if "final_lambda" in r else ""
        lines.append(
            f"| {r['model']} | {r['epochs']} | {r['test_nll']:.2f} | {r['test_elbo']:.2f} | "
            f"{r['test_reconstruction_error']:.2f} | {r['test_kl']:.2f} | "
            f"{r['test_mse_per_pixel']:.5f} | {lam} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    x, x_test, labels = load_data(args)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.models:
        model, result, trace = train(name, args, x, x_test)
        results.append(result)
        print(json.dumps(result))
        if trace is not None:
            suffix = "" if name == "vhp" else f"_{name}"
            if name == "vhp" and trace.rows:  # no rows: resumed at its last epoch
                save_figures(model, trace, args, x_test, labels)
            path = Path(args.out_dir) / f"lambda_trace{suffix}.csv"
            fresh = not (args.backup_dir and path.exists())
            with open(path, "w" if fresh else "a", newline="") as f:
                header = [("step", "lambda", "constraint_average")] if fresh else []
                csv.writer(f).writerows(header + trace.rows)
    # Runs into the same --out-dir (other models or more epochs) add rows.
    path = Path(args.out_dir) / "results.json"
    previous = json.loads(path.read_text()) if path.exists() else []
    keys = {(r["model"], r["epochs"]) for r in results}
    results = [r for r in previous if (r["model"], r["epochs"]) not in keys] + results
    path.write_text(json.dumps(results, indent=2))
    table = write_table(results, args)
    (Path(args.out_dir) / "results.md").write_text(table)
    print(table)
    return results


if __name__ == "__main__":
    main()
