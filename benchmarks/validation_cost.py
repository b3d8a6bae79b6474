"""Throughput cost of the in-step input checks (issue 13, item 5).

keras_vae's train step checks every batch inside the compiled step (finite,
in the likelihood's support) and records a bad step for the `RaiseOnNonFinite`
guard. This script times `fit` of the paper's default model (VAE, gated MLP
784-300-300-40, Bernoulli likelihood, dynamic binarization, Adam, XLA) with
the checks ("checked") against a subclass whose `_data_flags` returns
constant zeros, so the compiler removes the reductions ("unchecked").

Every run is a fresh process; runs alternate checked / unchecked (the order
flips every round), so machine drift hits both alike. The ratio
checked/unchecked examples/s is taken per round and its median reported with
the range over rounds. Data are random binary 28x28 images held in memory
(the checks do not depend on the values); the first epoch (compilation) is
excluded.

    python benchmarks/validation_cost.py --rounds 10 --epochs 4 \\
        --examples 50000 --json validation_cost.json      # the measurement
    python benchmarks/validation_cost.py --rounds 1 --epochs 2 \\
        --examples 512 --batch-size 64                    # a quick smoke run
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

VARIANTS = ("checked", "unchecked")


def child(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    from epoch_timer import EpochTimer
    from keras import ops

    import keras_vae

    class UncheckedVAE(keras_vae.models.VAE):
        """The same model and step, without the per-batch data reductions."""

        def _data_flags(self, x):
            self._check_batch_spec(x)
            return ops.zeros((3,), "float32"), ops.zeros((2,), "float32")

    cls = UncheckedVAE if args.child == "unchecked" else keras_vae.models.VAE
    keras.utils.set_random_seed(args.seed)
    x = (np.random.default_rng(args.seed).random((args.examples, 28, 28, 1)) < 0.5).astype(
        "float32"
    )
    model = cls(latent_dim=40, hidden_units=(300, 300), dynamic_binarization=True, seed=args.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(5e-4),
        jit_compile=args.jit,
        steps_per_execution=args.steps_per_execution,
    )

    timer = EpochTimer()
    model.fit(
        x,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    times = timer.times
    timed = times[1:] if len(times) > 1 else times
    wall = statistics.median(t[0] for t in timed)
    cpu_per_wall = sum(t[1] for t in timed) / sum(t[0] for t in timed)
    print(
        "RESULT "
        + json.dumps(
            {
                "variant": args.child,
                "examples_per_s": args.examples / wall,
                "epoch_seconds": [t[0] for t in times],
                "cpu_per_wall": cpu_per_wall,
            }
        ),
        flush=True,
    )


def run_child(args, variant):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        variant,
        "--epochs",
        str(args.epochs),
        "--examples",
        str(args.examples),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(args.seed),
        "--steps-per-execution",
        str(args.steps_per_execution),
    ] + ([] if args.jit else ["--no-jit"])
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is excluded")
    parser.add_argument("--examples", type=int, default=50000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps-per-execution", type=int, default=25)
    parser.add_argument("--no-jit", dest="jit", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every run's numbers here")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    runs, ratios = [], []
    for r in range(args.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        result = {}
        for variant in order:
            result[variant] = run_child(args, variant)
            runs.append({"round": r, **result[variant]})
            print(
                f"round {r} {variant:9s} {result[variant]['examples_per_s']:9.0f} examples/s"
                f"  cpu/wall {result[variant]['cpu_per_wall']:.2f}",
                flush=True,
            )
        ratios.append(result["checked"]["examples_per_s"] / result["unchecked"]["examples_per_s"])

    speed = {
        v: statistics.median(run["examples_per_s"] for run in runs if run["variant"] == v)
        for v in VARIANTS
    }
    summary = {
        "median_examples_per_s": speed,
        "ratio_checked_over_unchecked": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "json")},
    }
    print(
        f"\n| checks | examples/s (median of {args.rounds}) |\n|---|---|\n"
        f"| in-step checks | {speed['checked']:.0f} |\n| none | {speed['unchecked']:.0f} |\n\n"
        f"checked / unchecked per round: median {summary['ratio_checked_over_unchecked']['median']:.3f}"
        f" (range {min(ratios):.3f} to {max(ratios):.3f})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
