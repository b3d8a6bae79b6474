"""VAE vs beta-VAE vs beta-TC-VAE vs FactorVAE on the dSprites-like `keras_vae.datasets.shapes`.

Each model (10 latents, gated MLP 4096-256-256-10, Bernoulli likelihood) is
trained for `--epochs` on `--train` generated images (seed 0), then scored
on the posterior means of `--eval` other images (seed 1) with
`keras_vae.diagnostics`: MIG, DCI (random forests of `--dci-max-depth`
levels, `none` for fully grown trees), SAP and the FactorVAE
score (its batches drawn with `shapes(..., fixed_factor=k)`). One JSON line
per run and a summary table (mean and standard deviation over the seeds).

    python benchmarks/disentanglement.py --seeds 0 1 2 --json disentanglement.jsonl
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402

MODELS = ("vae", "beta_vae", "beta_tc_vae", "factor_vae")


def make_model(name, args, seed):
    common = {"latent_dim": args.latent_dim, "hidden_units": tuple(args.hidden_units), "seed": seed}
    if name == "vae":
        return keras_vae.models.VAE(**common)
    if name == "beta_vae":
        return keras_vae.models.VAE(beta=args.beta_vae, **common)
    if name == "factor_vae":
        return keras_vae.models.FactorVAE(
            gamma=args.gamma_factor,
            discriminator_units=tuple(args.discriminator_units),
            **common,
        )
    return keras_vae.models.BetaTCVAE(dataset_size=args.train, beta=args.beta_tc, **common)


def scores(model, args, seed):
    x_eval, factors = keras_vae.datasets.shapes(args.eval, seed=1)

    def encode(x):
        return np.asarray(model.encode(x)[0])

    latents = encode(x_eval)
    mig = keras_vae.diagnostics.mutual_information_gap(latents, factors)
    dci = keras_vae.diagnostics.dci(latents, factors, max_depth=args.dci_max_depth, seed=seed)
    sap = keras_vae.diagnostics.sap_score(latents, factors)

    def sample(k, n, rng):
        return keras_vae.datasets.shapes(n, seed=int(rng.integers(2**31)), fixed_factor=k)[0]

    factor_vae = keras_vae.diagnostics.factor_vae_score(
        encode, sample, len(keras_vae.datasets.SHAPES_FACTORS), x_eval, seed=seed
    )
    return {
        "mig": mig.score,
        "dci_disentanglement": dci.disentanglement,
        "dci_completeness": dci.completeness,
        "dci_informativeness": dci.informativeness,
        "sap": sap.score,
        "factor_vae_score": factor_vae.score,
        "active_latents": int(factor_vae.active.sum()),
    }


def _depth(value):
    return None if value.lower() == "none" else int(value)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--train", type=int, default=10000, help="training images (N)")
    p.add_argument("--eval", type=int, default=5000, help="images the metrics read")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--hidden-units", nargs="+", type=int, default=[256, 256])
    p.add_argument("--beta-vae", type=float, default=4.0, help="KL weight of the beta-VAE")
    p.add_argument("--beta-tc", type=float, default=6.0, help="TC weight of the beta-TC-VAE")
    p.add_argument("--gamma-factor", type=float, default=10.0, help="TC weight of the FactorVAE")
    p.add_argument(
        "--discriminator-units",
        nargs="+",
        type=int,
        default=[1000] * 6,
        help="hidden widths of the FactorVAE's discriminator (the paper's 6 x 1000)",
    )
    p.add_argument(
        "--dci-max-depth",
        type=_depth,
        default=3,
        help="depth of DCI's trees (`none`: fully grown; the library default is 3)",
    )
    p.add_argument("--json", help="append one JSON line per run to this file")
    args = p.parse_args()

    x_train, _ = keras_vae.datasets.shapes(args.train, seed=0)
    steps = args.epochs * (-(-args.train // args.batch_size))
    rows = []
    for name in args.models:
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            model = make_model(name, args, seed)
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
            history = model.fit(
                x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0
            ).history
            row = {"model": name, "seed": seed, "steps": steps}
            row.update({k: float(v[-1]) for k, v in history.items() if k != "loss"})
            row.update(scores(model, args, seed))
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
    keys = ("elbo", "mig", "dci_disentanglement", "dci_completeness",
            "dci_informativeness", "sap", "factor_vae_score", "active_latents")  # fmt: skip
    print("| model | " + " | ".join(keys) + " |")
    for name in args.models:
        runs = [r for r in rows if r["model"] == name]
        cells = [
            f"{np.mean([r[k] for r in runs]):.3f} ± {np.std([r[k] for r in runs]):.3f}"
            for k in keys
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
