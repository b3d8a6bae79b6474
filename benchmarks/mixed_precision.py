"""bfloat16 mixed precision vs float32: training speed and test NLL on MNIST.

The pythae peer protocol of REFERENCE.md ("Peer measured here"): dynamically
binarized MNIST (the first 50,000 training images), the VampPrior paper's
gated MLP 784-300-300-40 with a Bernoulli likelihood, Adam lr 5e-4, batch
100, 10 epochs, no KL warm-up, XLA; the test NLL is the 1000-sample
importance-sampled estimate on the first 2000 test images. Models:

    vae     VAE, ELBO, standard normal prior
    iwae    VAE trained on the IWAE bound with k = 5
    vamp    VAE with a VampPrior of K = 500 pseudo-inputs

Each model is trained under the float32 policy and under
`keras.mixed_precision.set_global_policy("mixed_bfloat16")`, with the same
seed (same initial weights, data order and noise draws). Every run is a fresh
process, and the runs are interleaved (round 1: vae fp32, vae bf16, iwae
fp32, ...), so machine drift hits both policies alike; the speed ratio is
taken per round and its median reported.

examples/s = training examples / median epoch seconds, the first (compiling)
epoch excluded when there is more than one. "cpu/wall" is the process CPU
time over the wall time of the timed epochs: how many cores the run kept
busy, so a ratio measured on a shared machine can be judged.

    python benchmarks/mixed_precision.py --mnist-raw-dir ../shared/data/mnist \\
        --data-dir ../shared/tfds --out mixed_precision.md --json mixed_precision.json
    python benchmarks/mixed_precision.py --epochs 1 --train-size 2000 \\
        --nll-samples 50 --nll-examples 200          # a quick smoke run
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("vae", "iwae", "vamp")
POLICIES = ("float32", "mixed_bfloat16")


def build_model(name, seed):
    import keras_vae

    common = dict(latent_dim=40, hidden_units=(300, 300), dynamic_binarization=True, seed=seed)
    if name == "iwae":
        return keras_vae.models.VAE(objective="iwae", num_importance_samples=5, **common)
    if name == "vamp":
        return keras_vae.models.VAE(prior=keras_vae.priors.VampPrior(500), **common)
    return keras_vae.models.VAE(**common)


def test_set(args):
    """The peer's exact test set from the raw idx file, else TFDS's, static."""
    import keras_vae

    if args.mnist_raw_dir:
        sys.path.insert(0, HERE)
        from mnist_nll import peer_protocol_test_set

        return peer_protocol_test_set(args.mnist_raw_dir)
    return keras_vae.datasets.load(
        "mnist", "test", binarization="static", data_dir=args.data_dir, as_numpy=True
    )


def worker(args):
    """Train and score one (model, policy); print the results as JSON."""
    import keras
    import numpy as np
    import tensorflow as tf
    from epoch_timer import EpochTimer

    import keras_vae

    keras.mixed_precision.set_global_policy(args.policy)
    keras.utils.set_random_seed(args.seed)
    x = keras_vae.datasets.load(
        "mnist", "train", binarization=None, data_dir=args.data_dir, as_numpy=True
    )[: args.train_size]
    train = (
        tf.data.Dataset.from_tensor_slices(x)
        .shuffle(len(x), seed=args.seed)
        .batch(100)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_model(args.model, args.seed)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=True)
    timer = EpochTimer()
    history = model.fit(train, epochs=args.epochs, verbose=0, callbacks=[timer])
    timed = slice(1, None) if args.epochs > 1 else slice(None)
    wall = [t[0] for t in timer.times[timed]]
    cpu = [t[1] for t in timer.times[timed]]
    x_test = test_set(args)[: args.nll_examples]
    start = time.perf_counter()
    result = keras_vae.diagnostics.log_likelihood(
        model, x_test, num_importance_samples=args.nll_samples, batch_size=500
    )
    print(
        json.dumps(
            {
                "model": args.model,
                "policy": args.policy,
                "examples_per_s": len(x) / statistics.median(wall),
                "cpu_per_wall": sum(cpu) / sum(wall),
                "epoch_seconds": [t[0] for t in timer.times],
                "final_loss": float(history.history["loss"][-1]),
                "test_nll": float(result.nll),
                "nll_dtype": str(np.asarray(result.log_likelihood).dtype),
                "nll_seconds": time.perf_counter() - start,
            }
        )
    )


def run_worker(model, policy, args):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--model",
        model,
        "--policy",
        policy,
        "--epochs",
        str(args.epochs),
        "--train-size",
        str(args.train_size),
        "--nll-samples",
        str(args.nll_samples),
        "--nll-examples",
        str(args.nll_examples),
        "--seed",
        str(args.seed),
    ]
    for flag, value in (("--data-dir", args.data_dir), ("--mnist-raw-dir", args.mnist_raw_dir)):
        if value:
            cmd += [flag, value]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(runs, args):
    """The markdown table: one row per model and policy, medians over rounds."""
    lines = [
        f"Gated MLP 784-300-300-40, batch 100, Adam 5e-4, {args.epochs} epochs on "
        f"{args.train_size} dynamically binarized MNIST images, XLA; test NLL with "
        f"{args.nll_samples} samples on the first {args.nll_examples} test images; "
        f"{args.rounds} round(s), {os.cpu_count()} cores.",
        "",
        "| model | policy | train examples/s | speed vs float32 | cpu/wall | test NLL |",
        "|---|---|---|---|---|---|",
    ]
    for model in args.models:
        base = runs[(model, "float32")]
        for policy in args.policies:
            rs = runs[(model, policy)]
            rate = statistics.median(r["examples_per_s"] for r in rs)
            ratio = statistics.median(
                r["examples_per_s"] / b["examples_per_s"] for r, b in zip(rs, base)
            )
            cpu = statistics.median(r["cpu_per_wall"] for r in rs)
            nlls = ", ".join(f"{r['test_nll']:.2f}" for r in rs)
            lines.append(
                f"| {model} | {policy} | {rate:,.0f} | {ratio:.2f}x | {cpu:.2f} | {nlls} |"
            )
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS)
    )
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-size", type=int, default=50000)
    p.add_argument("--nll-samples", type=int, default=1000)
    p.add_argument("--nll-examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="prepared TFDS dir (or TFDS_DATA_DIR)")
    p.add_argument(
        "--mnist-raw-dir",
        default=None,
        help="original MNIST idx files: score on the peer's exact test set",
    )
    p.add_argument("--out", default=None, help="markdown table to write")
    p.add_argument("--json", default=None, help="every run's results")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    p.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    args.models = args.models.split(",")
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown models {unknown}; choose from {MODELS}")
    args.policies = POLICIES
    runs = {(m, policy): [] for m in args.models for policy in POLICIES}
    for r in range(args.rounds):
        for model in args.models:
            for policy in POLICIES:
                result = run_worker(model, policy, args)
                runs[(model, policy)].append(result)
                print(
                    f"round {r + 1}: {model} {policy}: {result['examples_per_s']:.0f} "
                    f"examples/s, cpu/wall {result['cpu_per_wall']:.2f}, "
                    f"test NLL {result['test_nll']:.2f}",
                    flush=True,
                )
    text = table(runs, args)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{m}/{policy}": rs for (m, policy), rs in runs.items()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
