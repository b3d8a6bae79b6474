"""Epoch time of a VampPrior-paper model, projected from a few timed steps.

Builds the model of `examples/vamp_prior_mnist/train.py` (same builders,
same compile: Adam 5e-4, XLA, the library's steps per execution) and times
`fit` on the first `--train-examples` training images for `--epochs`
epochs (the first one compiles and is not used), then one `evaluate` pass
over the 10,000 validation images; the projected epoch is the median
per-image training time times 50,000 plus the validation pass. For runs
whose real epoch is too long to time whole on this machine (ConvHVAE).

    python benchmarks/vamp_prior_epoch_time.py --model convhvae --data-dir <TFDS_DATA_DIR>
"""

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vamp_prior_mnist" / "train.py"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("vae", "hvae", "convhvae"), default="convhvae")
    p.add_argument("--prior", default="vamp")
    p.add_argument("--data-dir", required=True, help="prepared TFDS dir with binarized_mnist")
    p.add_argument("--train-examples", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3, help="fit epochs, the first compiles")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    spec = importlib.util.spec_from_file_location("vamp_prior_mnist_train", EXAMPLE)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    import keras
    from epoch_timer import EpochTimer  # this script's directory

    example_args = train.parse_args(
        ["--model", args.model, "--prior", args.prior, "--data-dir", args.data_dir]
    )
    keras.utils.set_random_seed(example_args.seed)
    load = train.example_utils.load_split
    x_train = load(example_args, "binarized_mnist", "train")
    x_val = load(example_args, "binarized_mnist", "validation")
    prior, _ = train.make_prior(example_args, x_train)
    model = train.make_model(example_args, prior)
    model.compile(
        optimizer=keras.optimizers.Adam(example_args.lr),
        jit_compile=True,
        steps_per_execution=example_args.steps_per_execution,
    )
    timer = EpochTimer()
    x = x_train[: args.train_examples]
    model.fit(
        x, batch_size=example_args.batch_size, epochs=args.epochs, callbacks=[timer], verbose=0
    )
    val = train.batches(x_val, example_args.batch_size)
    model.evaluate(val, verbose=0)  # compiles the test step
    start, cpu = time.perf_counter(), time.process_time()
    model.evaluate(val, verbose=0)
    val_wall, val_cpu = time.perf_counter() - start, time.process_time() - cpu
    timed = timer.times[1:]
    per_image = statistics.median(w for w, _ in timed) / len(x)
    report = {
        "model": args.model,
        "prior": args.prior,
        "train_examples": len(x),
        "epoch_wall_s": [round(w, 2) for w, _ in timed],
        "train_cpu_wall": round(sum(c for _, c in timed) / sum(w for w, _ in timed), 2),
        "validation_wall_s": round(val_wall, 2),
        "validation_cpu_wall": round(val_cpu / val_wall, 2),
        "projected_epoch_s": round(per_image * 50_000 + val_wall, 1),
    }
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
