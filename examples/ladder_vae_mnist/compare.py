"""Table and plot of the Ladder VAE comparison from the runs' results.json.

    python examples/ladder_vae_mnist/compare.py [--runs-dir runs/ladder_vae_mnist]

Reads `<runs-dir>/<model>/results.json` for the models that have run, prints
a Markdown table (test NLL, test ELBO, active units per layer, epochs) and
writes `<runs-dir>/active_units.png`: active units per latent layer, one bar
per model, over the layer sizes.
"""

import argparse
import json
import os

LABELS = {"vae": "VAE", "vae_bn_wu": "VAE+BN+WU", "lvae": "LVAE+BN+WU"}


def load_results(runs_dir):
    results = {}
    for model in LABELS:
        path = os.path.join(runs_dir, model, "results.json")
        if os.path.exists(path):
            with open(path) as f:
                results[model] = json.load(f)
    if not results:
        raise FileNotFoundError(
            f"No results.json under {runs_dir}/{{{','.join(LABELS)}}}: run "
            "examples/ladder_vae_mnist/train.py first."
        )
    return results


def table(results):
    rows = [
        "| model | epochs | test NLL | test ELBO | active units z_1 ... z_L |",
        "|---|---|---|---|---|",
    ]
    for model, r in results.items():
        epochs = f"{r['epochs']}" + (
            f" + {r['finetune_epochs']} IW" if r["finetune_epochs"] else ""
        )
        units = " / ".join(f"{a}/{d}" for a, d in zip(r["active_units"], r["latent_dims"]))
        rows.append(
            f"| {LABELS[model]} | {epochs} | {r['test_nll']:.2f} "
            f"({r['nll_samples']} samples, {r['nll_examples']} images) | "
            f"{r['test_elbo']:.2f} | {units} |"
        )
    return "\n".join(rows)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dims = next(iter(results.values()))["latent_dims"]
    layers = np.arange(len(dims))
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(layers, dims, 0.9, color="0.9", edgecolor="0.6", label="layer size")
    for i, (model, r) in enumerate(results.items()):
        offset = (i - (len(results) - 1) / 2) * width
        ax.bar(layers + offset, r["active_units"], width, label=LABELS[model])
    ax.set_xticks(layers, [f"z_{i + 1}" for i in layers])
    ax.set_yscale("symlog", linthresh=4)
    ax.set_ylabel("active units (Var_x E_q[z_u] > 0.01)")
    ax.set_title("Active units per latent layer, MNIST")
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs-dir", default=os.path.join("runs", "ladder_vae_mnist"))
    args = p.parse_args(argv)
    results = load_results(args.runs_dir)
    print(table(results))
    path = os.path.join(args.runs_dir, "active_units.png")
    plot(results, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
