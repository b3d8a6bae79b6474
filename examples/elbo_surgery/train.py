"""ELBO surgery on MNIST: the shape of Hoffman & Johnson's (2016) table.

Trains VAEs with 2-, 10- and 20-d latents and a standard normal prior, and a
20-d VAE with a VampPrior, all for the same number of epochs, on the 50,000
training images of `binarized_mnist`; then splits each model's average KL
over those 50,000 images into the index-code mutual information (at most
log N = 10.82) and the marginal KL(q(z) || p(z)) with
`keras_vae.diagnostics.elbo_surgery`, and writes a Markdown table.

    python examples/elbo_surgery/train.py
    python examples/elbo_surgery/train.py --epochs 60 --out-dir runs/elbo_surgery

Resumable per model: a model whose `<out-dir>/<name>/model.weights.h5`
exists is loaded instead of trained. Outputs in --out-dir: `<name>/`
(`history.csv`, `model.weights.h5`, `results.json`), `results.json` (all
models) and `table.md`.
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

import keras_vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

# Hoffman & Johnson (2016), MNIST: ELBO, avg KL, MI, marginal KL.
REFERENCE = {
    2: (-129.63, 7.41, 7.20, 0.21),
    10: (-88.95, 19.17, 10.82, 8.35),
    20: (-87.45, 20.2, 10.67, 9.53),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--latent-dims", default="2,10,20", help="standard normal VAEs (2,10,20)")
    add("--vamp-latent-dim", type=int, default=20, help="VampPrior VAE, 0 = none")
    add("--components", type=int, default=500, help="VampPrior K (500)")
    add("--hidden-units", type=int, default=300, help="gated MLP width (300)")
    add("--num-samples", type=int, default=1, help="surgery samples per image")
    example_utils.add_training_arguments(p, 30, 100, 1e-3, "training epochs of every model")
    out_dir = os.path.join("runs", "elbo_surgery")
    example_utils.add_run_arguments(p, out_dir, backup_dir_help=None, steps_per_execution=10)
    args = p.parse_args(argv)
    args.latent_dims = [int(d) for d in args.latent_dims.split(",") if d]
    names = ("epochs", "batch_size", "components", "hidden_units", "num_samples")
    example_utils.require_positive(p, args, names)
    if any(d < 1 for d in args.latent_dims) or args.vamp_latent_dim < 0:
        p.error("latent sizes must be positive")
    return args


def model_specs(args):
    """(name, prior name, latent size) of every model of the table."""
    specs = [(f"standard_{d}d", "standard", d) for d in args.latent_dims]
    if args.vamp_latent_dim:
        d = args.vamp_latent_dim
        specs.append((f"vamp_{d}d", "vamp", d))
    return specs


def make_model(args, prior, latent_dim):
    if prior == "vamp":
        prior = keras_vae.priors.VampPrior(args.components, seed=args.seed)
    else:
        prior = keras_vae.priors.StandardNormal()
    model = keras_vae.models.VAE(
        latent_dim=latent_dim,
        prior=prior,
        hidden_units=(args.hidden_units,) * 2,
        seed=args.seed,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        jit_compile=True,
        steps_per_execution=args.steps_per_execution,
    )
    return model


def train_or_load(args, model, x_train, out):
    """Train for `args.epochs` (or load a finished model); return seconds."""
    weights = out / "model.weights.h5"
    model.build((None,) + x_train.shape[1:])
    seconds = example_utils.fit_phase(
        model,
        x_train,
        out.name,
        finished=weights,
        callbacks=[keras.callbacks.CSVLogger(str(out / "history.csv"))],
        batch_size=args.batch_size,
        epochs=args.epochs,
    )
    return seconds or None  # None: loaded, not trained


def score(args, model, x_train, x_test):
    """Test ELBO, then ELBO surgery over all training images (timed)."""
    test = model.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)
    start = time.perf_counter()
    surgery = keras_vae.diagnostics.elbo_surgery(
        model, x_train, num_samples=args.num_samples, seed=args.seed
    )
    seconds = time.perf_counter() - start
    return {"test_elbo": float(test["elbo"]), **surgery._asdict()}, seconds


def table(rows):
    head = (
        "| model | z | epochs | test ELBO | avg KL | avg KL (closed form) | "
        "MI | log N | marginal KL | surgery s | H&J: ELBO, avg KL, MI, marg. KL |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        ref = REFERENCE.get(r["latent_dim"]) if r["prior"] == "standard" else None
        closed = r["avg_kl_analytic"]
        lines.append(
            f"| {r['prior']} | {r['latent_dim']} | {r['epochs']} | "
            f"{r['test_elbo']:.2f} | "
            f"{r['avg_kl']:.2f} ± {r['avg_kl_stderr']:.3f} | "
            f"{'n/a' if closed is None else f'{closed:.2f}'} | "
            f"{r['mutual_information']:.2f} ± "
            f"{r['mutual_information_stderr']:.3f} | {r['log_n']:.2f} | "
            f"{r['marginal_kl']:.2f} ± {r['marginal_kl_stderr']:.3f} | "
            f"{r['surgery_seconds']:.1f} | "
            f"{'—' if ref is None else ', '.join(f'{v:g}' for v in ref)} |"
        )
    return head + "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    out_dir = Path(args.out_dir)
    x_train = example_utils.load_split(args, "binarized_mnist", "train")
    x_train = x_train[: args.max_train_examples]
    x_test = example_utils.load_split(args, "binarized_mnist", "test")
    print(f"{len(x_train)} training images, log N = {math.log(len(x_train)):.2f}")
    rows = []
    for name, prior, latent_dim in model_specs(args):
        keras.utils.set_random_seed(args.seed)
        out = out_dir / name
        out.mkdir(parents=True, exist_ok=True)
        model = make_model(args, prior, latent_dim)
        train_seconds = train_or_load(args, model, x_train, out)
        row, seconds = score(args, model, x_train, x_test)
        row.update(
            name=name,
            prior=prior,
            latent_dim=latent_dim,
            epochs=args.epochs,
            surgery_seconds=seconds,
        )
        if train_seconds is not None:
            row["train_seconds"] = train_seconds
        (out / "results.json").write_text(json.dumps(row, indent=2))
        print(
            f"{name}: test ELBO {row['test_elbo']:.2f}, avg KL {row['avg_kl']:.2f}"
            f" = MI {row['mutual_information']:.2f} + marginal KL "
            f"{row['marginal_kl']:.2f}; surgery {seconds:.1f} s",
            flush=True,
        )
        rows.append(row)
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2))
    markdown = table(rows)
    (out_dir / "table.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
