"""Training throughput at the user's defaults: keras_vae vs pythae, side by side.

The protocol of issue 15: the paper's gated MLP VAE (784-300-300-40),
dynamic binarization, 50k MNIST, `fit(x, batch_size=100)` on NumPy arrays,
`compile(optimizer=Adam(5e-4))` with nothing else set, so keras_vae runs
with its own compile defaults (`jit_compile` and `steps_per_execution`
"auto", see `keras_vae.models.Autoencoder.compile`). pythae 0.1.2 runs the
same model and protocol in its own venv (`benchmarks/pythae_peer.py`,
PEER.md). Configurations (`--configs`):

    kv_vae, kv_iwae, kv_vamp             keras_vae VAE, IWAE k=5, VampPrior K=500 (TensorFlow)
    kv_vae_bf16, kv_iwae_bf16, kv_vamp_bf16   the same under mixed_bfloat16
    jax_vae, jax_iwae, jax_vamp          keras_vae on Keras's JAX backend
    pythae_vae, pythae_iwae, pythae_vamp  the same in pythae (`--peer-python`)

examples/s = 50,000 / median epoch seconds (the first, compiling epoch is
not timed). Every measurement runs in a fresh process and the
configurations are interleaved over `--rounds` rounds, so machine drift hits
all alike; keras_vae / pythae ratios are taken per round. The processes a
ratio compares run back to back (same model: keras_vae, its bf16 run,
pythae), first one way and in the next round the other, because this
machine's speed can move by half within minutes. Also reported:
cpu/wall (process CPU seconds over wall seconds of the timed epochs for
keras_vae; of the whole child process for pythae) and the epoch spread,
max |t / median - 1| over the timed epochs.

    python benchmarks/throughput.py --rounds 2 --epochs 3 \\
        --peer-python $PEER_VENV/bin/python --mnist-dir $MNIST_DIR --json throughput.json
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIGS = {
    "kv_vae": ("keras_vae", "vae"),
    "kv_iwae": ("keras_vae", "iwae"),
    "kv_vamp": ("keras_vae", "vamp"),
    "kv_vae_bf16": ("keras_vae", "vae_bf16"),
    "kv_iwae_bf16": ("keras_vae", "iwae_bf16"),
    "kv_vamp_bf16": ("keras_vae", "vamp_bf16"),
    "jax_vae": ("keras_vae_jax", "vae"),
    "jax_iwae": ("keras_vae_jax", "iwae"),
    "jax_vamp": ("keras_vae_jax", "vamp"),
    "pythae_vae": ("pythae", "vae"),
    "pythae_iwae": ("pythae", "iwae"),
    "pythae_vamp": ("pythae", "vamp"),
}


def worker(args):
    """Train one keras_vae configuration; print epoch times and cpu/wall as JSON."""
    import keras
    from epoch_timer import EpochTimer

    import keras_vae

    name, _, precision = args.worker.partition("_")
    if precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x = keras_vae.datasets.load(
        "mnist",
        "train",
        binarization=None,
        data_dir=args.mnist_dir,
        flatten=True,
        as_numpy=True,
    )
    kwargs = {
        "vae": {},
        "iwae": {"objective": "iwae", "num_importance_samples": 5},
        "vamp": {"prior": keras_vae.priors.VampPrior(500)},
    }[name]
    model = keras_vae.models.VAE(
        latent_dim=40, hidden_units=(300, 300), dynamic_binarization=True, seed=0, **kwargs
    )
    compile_kwargs = {}
    if args.steps_per_execution is not None:
        compile_kwargs["steps_per_execution"] = args.steps_per_execution
    model.compile(optimizer=keras.optimizers.Adam(5e-4), **compile_kwargs)
    timer = EpochTimer()
    model.fit(x, epochs=args.epochs + 1, batch_size=100, verbose=0, callbacks=[timer])
    timed = timer.times[1:]
    print(
        json.dumps(
            {
                "epoch_s": [w for w, _ in timed],
                "cpu_wall": sum(c for _, c in timed) / sum(w for w, _ in timed),
                "jit_compile": bool(model.jit_compile),
                "steps_per_execution": model.steps_per_execution,
                "backend": keras.backend.backend(),
            }
        )
    )


def measure(name, args):
    """`(examples/s, cpu/wall, epoch spread, epoch seconds)` of one fresh process."""
    framework, model = CONFIGS[name]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["KERAS_BACKEND"] = "jax" if framework == "keras_vae_jax" else "tensorflow"
    if framework == "pythae":
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [
                    args.peer_python,
                    os.path.join(HERE, "pythae_peer.py"),
                    "--model",
                    model,
                    "--time-only",
                    "--epochs",
                    str(args.epochs + 1),
                    "--json",
                    f.name,
                    "--data-dir",
                    args.mnist_dir,
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = json.load(open(f.name))
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        epochs = out["epoch_seconds"][1:]  # the first epoch is not timed
        med = statistics.median(epochs)
        spread = max(abs(t / med - 1) for t in epochs)
        return 50000 / med, cpu / wall, spread, epochs
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        model,
        "--epochs",
        str(args.epochs),
        "--mnist-dir",
        args.mnist_dir,
    ]
    if args.steps_per_execution is not None:
        cmd += ["--steps-per-execution", str(args.steps_per_execution)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    med = statistics.median(res["epoch_s"])
    spread = max(abs(t / med - 1) for t in res["epoch_s"])
    return 50000 / med, res["cpu_wall"], spread, res["epoch_s"]


def round_order(names, round_index):
    """`names` grouped by model (each group in its `--configs` order), every
    group reversed in odd rounds.

    >>> round_order(["kv_vae", "kv_iwae", "pythae_vae", "pythae_iwae"], 1)
    ['pythae_vae', 'kv_vae', 'pythae_iwae', 'kv_iwae']
    """
    groups = {}
    for name in names:
        model = CONFIGS[name][1].removesuffix("_bf16")
        groups.setdefault(model, []).append(name)
    step = -1 if round_index % 2 else 1
    return [name for group in groups.values() for name in group[::step]]


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement")
    p.add_argument(
        "--configs",
        default=None,
        help="comma-separated, from " + ", ".join(CONFIGS) + " (default: all "
        "keras_vae ones, and pythae's with --peer-python)",
    )
    p.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help='override keras_vae\'s default ("auto")',
    )
    p.add_argument(
        "--mnist-dir",
        default=os.environ.get("MNIST_DIR"),
        help="directory of MNIST's original IDX files",
    )
    p.add_argument(
        "--peer-python", default=None, help="python of the pythae peer venv (benchmarks/PEER.md)"
    )
    p.add_argument("--json", default=None)
    p.add_argument(
        "--worker", choices=[model for _, model in CONFIGS.values()], help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if not args.mnist_dir:
        p.error("pass --mnist-dir or set MNIST_DIR")
    if args.worker:
        return worker(args)
    names = (
        args.configs.split(",")
        if args.configs
        else [
            n
            for n in CONFIGS
            if not n.endswith("_bf16") and (not n.startswith("pythae") or args.peer_python)
        ]
    )
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or (any(n.startswith("pythae") for n in names) and not args.peer_python):
        p.error(f"unknown configs {unknown} (or a pythae config without --peer-python)")

    runs = {name: [] for name in names}
    for r in range(args.rounds):
        for name in round_order(names, r):
            rate, cpu_wall, spread, epochs = measure(name, args)
            runs[name].append(
                {"examples_per_s": rate, "cpu_wall": cpu_wall, "spread": spread, "epoch_s": epochs}
            )
            print(
                f"round {r + 1}: {name}: {rate:.0f} examples/s, cpu/wall "
                f"{cpu_wall:.2f}, spread {spread:.0%}, epochs "
                f"{[round(t, 2) for t in epochs]}",
                flush=True,
            )
    ratios = {}
    for name in names:
        # keras_vae vs pythae, bf16 vs float32, and JAX vs TensorFlow.
        model = name.split("_", 1)[1]
        if name.endswith("_bf16"):
            peers = [name[: -len("_bf16")]]
        elif name.startswith("jax_"):
            peers = ["pythae_" + model, "kv_" + model]
        else:
            peers = ["pythae_" + model]
        for peer in peers:
            if name.startswith(("kv_", "jax_")) and peer in runs:
                key = f"{name}/{peer}"
                ratios[key] = [
                    a["examples_per_s"] / b["examples_per_s"]
                    for a, b in zip(runs[name], runs[peer])
                ]
                print(f"{key}: " + ", ".join(f"{v:.2f}x" for v in ratios[key]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rounds": args.rounds,
                    "epochs_timed": args.epochs,
                    "cores": os.cpu_count(),
                    "runs": runs,
                    "ratios": ratios,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    sys.exit(main())
