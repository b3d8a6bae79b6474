"""Train one row of the VampPrior paper's static-MNIST table, with its protocol.

Tomczak & Welling (2018): Adam 5e-4, batches of 100, KL warm-up over 100
epochs, at most 2000 epochs with early stopping after 50 epochs without a
better validation ELBO (best weights kept), K = 500 components, 40-d latents,
gated layers of 300 units; test NLL with 5000 importance samples. Data:
`binarized_mnist` (Larochelle's fixed binarization, 50k/10k/10k).

    python examples/vamp_prior_mnist/train.py --model vae --prior standard
    python examples/vamp_prior_mnist/train.py --model vae --prior mog
    python examples/vamp_prior_mnist/train.py --model vae --prior vamp_data
    python examples/vamp_prior_mnist/train.py --model vae --prior vamp
    python examples/vamp_prior_mnist/train.py --model hvae --prior standard
    python examples/vamp_prior_mnist/train.py --model hvae --prior mog
    python examples/vamp_prior_mnist/train.py --model hvae --prior vamp_data
    python examples/vamp_prior_mnist/train.py --model hvae --prior vamp
    python examples/vamp_prior_mnist/train.py --model convhvae --prior vamp
    # IWAE rows: add --objective iwae --num-samples K (e.g. 50)

Add `--backup-dir DIR` to long runs: a killed run resumes where it stopped.
When training ends (`BackupAndRestore` then deletes its backup), the run
writes `trained.json` beside the best weights: the same command, rerun after
an interruption during the final scoring, loads the best weights and scores
them without training again.
Outputs in --out-dir: results.json, trained.json, history.csv, best.weights.h5,
samples.png, reconstructions.png, pseudo_inputs.png and pseudo_inputs.npy
(VampPrior), curve.jsonl (--curve-every).
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
import tensorflow as tf  # noqa: E402

import keras_vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

NON_NEGATIVE = ("warmup", "curve_every", "seed")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--model", choices=("vae", "hvae", "convhvae"), default="hvae")
    add("--prior", choices=("standard", "mog", "vamp", "vamp_data"), default="vamp")
    add("--objective", choices=("elbo", "iwae"), default="elbo")
    add("--num-samples", type=int, default=1, help="training samples k (IWAE's k)")
    example_utils.add_training_arguments(p, 2000, 100, 5e-4, "maximum epochs")
    add("--patience", type=int, default=50, help="early-stopping patience (50)")
    add("--warmup", type=int, default=100, help="KL warm-up epochs, 0 = off (100)")
    add("--components", type=int, default=500, help="K of MoG / VampPrior (500)")
    add("--latent-dim", type=int, default=40, help="size of z (of z1 and z2)")
    add("--hidden-units", type=int, default=300, help="width of the gated layers")
    example_utils.add_nll_arguments(p, 5000)
    add("--nll-batch-size", type=int, default=100, help="test images per call (100)")
    add("--nll-chunk-size", type=int, help="samples per call (model default)")
    add("--download", action="store_true", help="let TFDS download binarized_mnist")
    out_dir_help = "default runs/vamp_prior_mnist/<model>_<prior>"
    example_utils.add_run_arguments(p, out_dir_help=out_dir_help)
    add("--curve-every", type=int, default=0, help="test NLL every N epochs (0 = off)")
    add("--curve-samples", type=int, default=1000)
    add("--curve-examples", type=int, default=1000)
    args = p.parse_args(argv)
    for name, value in vars(args).items():
        if type(value) is int and value < (0 if name in NON_NEGATIVE else 1):
            p.error(f"--{name.replace('_', '-')} is out of range: {value}")
    run = f"{args.model}_{args.prior}"
    if args.objective != "elbo" or args.num_samples != 1:
        run += f"_{args.objective}{args.num_samples}"
    args.out_dir = args.out_dir or os.path.join("runs", "vamp_prior_mnist", run)
    return args


def batches(x, batch_size, shuffle_seed=None):
    """A prefetched tf.data pipeline; reshuffled every epoch if seeded."""
    ds = tf.data.Dataset.from_tensor_slices(x)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def make_prior(args, x_train):
    """The prior and, for "VampPrior data", the indices of its pseudo-inputs."""
    k = args.components
    if args.prior == "standard":
        return keras_vae.priors.StandardNormal(), None
    if args.prior == "mog":
        return keras_vae.priors.MixtureOfGaussians(k, seed=args.seed), None
    if args.prior == "vamp":
        return keras_vae.priors.VampPrior(num_components=k, seed=args.seed), None
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(x_train), k, replace=k > len(x_train)))
    prior = keras_vae.priors.VampPrior(
        num_components=k,
        pseudo_inputs_initializer=x_train[idx],
        trainable_pseudo_inputs=False,
        seed=args.seed,
    )
    return prior, idx


def make_model(args, prior):
    common = dict(prior=prior, objective=args.objective, seed=args.seed)
    common["num_importance_samples"] = args.num_samples
    if args.model == "vae":
        return keras_vae.models.VAE(
            latent_dim=args.latent_dim, hidden_units=(args.hidden_units,) * 2, **common
        )
    arch = "gated_mlp" if args.model == "hvae" else "gated_conv"
    return keras_vae.models.HierarchicalVAE(
        latent_dims=(args.latent_dim, args.latent_dim),
        architecture=arch,
        hidden_units=args.hidden_units,
        **common,
    )


def read_history(path, before_epoch):
    """Rows of history.csv for epochs < `before_epoch` (0-based), last copy wins."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r.get("epoch")}
    return [rows[e] for e in sorted(rows) if e < before_epoch]


class Clock(keras.callbacks.Callback):
    """Adds `seconds`, the cumulative time in epochs (resumes from history.csv)."""

    def __init__(self, history_path):
        super().__init__()
        self.history_path, self.total, self.start = history_path, None, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        if self.total is None:
            rows = read_history(self.history_path, epoch)
            self.total = float(rows[-1]["seconds"]) if rows else 0.0
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.total += time.perf_counter() - self.start
        logs["seconds"] = self.total


class EarlyStoppingToFile(keras.callbacks.Callback):
    """Early stopping (mode max) that keeps the best weights in a file.

    Unlike `keras.callbacks.EarlyStopping`, its state survives a resume by
    `BackupAndRestore`: the best value is re-read from history.csv and the
    best weights from `weights_path`, which are loaded when training ends.
    """

    def __init__(self, monitor, patience, weights_path, history_path):
        super().__init__()
        self.monitor, self.patience = monitor, patience
        self.weights_path, self.history_path = weights_path, history_path
        self.best, self.best_epoch, self.last_epoch = -math.inf, None, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.last_epoch is None:
            for row in read_history(self.history_path, epoch):
                value = float(row[self.monitor])
                if value > self.best:
                    self.best, self.best_epoch = value, int(row["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch, value = epoch, float(logs[self.monitor])
        if value > self.best:
            self.best, self.best_epoch = value, epoch
            self.model.save_weights(self.weights_path)
        elif self.best_epoch is not None and epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if os.path.exists(self.weights_path):
            self.model.load_weights(self.weights_path)


class LearningCurve(keras.callbacks.Callback):
    """Every `every` epochs, a quick test NLL appended to a JSON-lines file."""

    def __init__(self, every, x, monitor, path, **nll_kwargs):
        super().__init__()
        self.every, self.x, self.monitor, self.path = every, x, monitor, path
        self.nll_kwargs = nll_kwargs
        self.started = False

    def on_epoch_begin(self, epoch, logs=None):
        # On a resume, drop the points of the epochs that are run again.
        if not self.started and os.path.exists(self.path):
            with open(self.path) as f:
                kept = [line for line in f if json.loads(line)["epoch"] <= epoch]
            with open(self.path, "w") as f:
                f.writelines(kept)
        self.started = True

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        log_likelihood = keras_vae.diagnostics.log_likelihood
        point = {"epoch": epoch + 1}
        point["nll"] = log_likelihood(self.model, self.x, **self.nll_kwargs).nll
        point[self.monitor] = float(logs[self.monitor])
        point["seconds"] = float(logs.get("seconds", math.nan))
        with open(self.path, "a") as f:
            f.write(json.dumps(point) + "\n")


def save_pictures(model, args, x_test):
    to_np = keras.ops.convert_to_numpy
    save_grid = example_utils.save_grid
    save_grid(
        os.path.join(args.out_dir, "samples.png"),
        to_np(model.sample(100)),
        title="Samples: mean of p(x | z), z ~ p(z)",
    )
    shown = x_test[:50]
    recon = to_np(model.reconstruct(shown))
    rows = [r for i in range(0, 50, 10) for r in (shown[i : i + 10], recon[i : i + 10])]
    save_grid(
        os.path.join(args.out_dir, "reconstructions.png"),
        np.concatenate(rows),
        title="Test images (rows 1, 3, ...) above their reconstructions",
    )
    if args.prior in ("vamp", "vamp_data"):
        pseudo = to_np(model.prior.pseudo_inputs)
        np.save(os.path.join(args.out_dir, "pseudo_inputs.npy"), pseudo)
        save_grid(
            os.path.join(args.out_dir, "pseudo_inputs.png"),
            pseudo[:100],
            title=f"First {min(100, len(pseudo))} of {len(pseudo)} pseudo-inputs",
        )


TRAINED = "trained.json"
"""Written to --out-dir when training ends: what scoring needs of it."""

TRAINING_ARGS = (
    "model", "prior", "objective", "num_samples", "epochs", "batch_size", "lr", "patience",
    "warmup", "components", "latent_dim", "hidden_units", "seed", "max_train_examples",
)  # fmt: skip
"""The flags that make a different training run (a finished one is reused
only when they all match)."""


def finished_training(args):
    """`trained.json` of --out-dir when it records this run's training flags."""
    path = os.path.join(args.out_dir, TRAINED)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        trained = json.load(f)
    wanted = {k: getattr(args, k) for k in TRAINING_ARGS}
    if trained.get("training_args") != wanted:
        raise ValueError(
            f"{path} records a finished run with other training flags: "
            f"{trained.get('training_args')}; this run has {wanted}. Use another "
            "--out-dir, or delete the file to train afresh there"
        )
    return trained


def fresh_start(args):
    """Whether this is a new run (no backup to resume, no finished training);
    if so clear old logs."""
    backup = args.backup_dir
    if backup and os.path.isdir(backup) and os.listdir(backup):
        return False
    if finished_training(args) is not None:
        return False
    for name in ("history.csv", "curve.jsonl", "best.weights.h5"):
        if os.path.exists(os.path.join(args.out_dir, name)):
            os.remove(os.path.join(args.out_dir, name))
    return True


def make_callbacks(args, monitor, x_test):
    """Clock first (it adds `seconds` to the logs), CSVLogger after the others."""
    out = functools.partial(os.path.join, args.out_dir)
    clock = Clock(out("history.csv"))
    stopper = EarlyStoppingToFile(
        monitor, args.patience, out("best.weights.h5"), out("history.csv")
    )
    callbacks = [clock]
    if args.warmup:
        # The paper's code sets beta = epoch / warmup with 1-based epochs:
        # 0.01 in the first epoch, 1 from the 100th on.
        callbacks.append(keras_vae.callbacks.KLWarmUp(args.warmup, start_epoch=-1))
    if args.curve_every:
        nll_kwargs = dict(batch_size=args.nll_batch_size, chunk_size=args.nll_chunk_size)
        x_curve = x_test[: args.curve_examples]
        callbacks.append(
            LearningCurve(
                args.curve_every,
                x_curve,
                monitor,
                out("curve.jsonl"),
                num_importance_samples=args.curve_samples,
                **nll_kwargs,
            )
        )
    callbacks += [stopper, keras.callbacks.CSVLogger(out("history.csv"), append=True)]
    if args.backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(args.backup_dir))
    return callbacks, clock, stopper


def score(model, args, x_test, bound):
    """Test bound(s), NLL and active units of the trained model."""
    test_data = batches(x_test, args.batch_size)
    metrics = model.evaluate(test_data, verbose=0, return_dict=True)
    results = {f"test_{bound}": float(metrics[bound])}
    log_likelihood = functools.partial(
        keras_vae.diagnostics.log_likelihood,
        model,
        x_test,
        batch_size=args.nll_batch_size,
        chunk_size=args.nll_chunk_size,
    )
    if bound != "elbo":  # log w at one z ~ q(z|x): an unbiased ELBO estimate
        results["test_elbo"] = -log_likelihood(num_importance_samples=1).nll
    nll = log_likelihood(num_importance_samples=args.nll_samples, max_examples=args.nll_examples)
    results.update(
        test_nll=nll.nll,
        nll_samples=nll.num_importance_samples,
        nll_examples=len(nll.log_likelihood),
    )
    units = keras_vae.diagnostics.active_units(model, x_test)
    names = ["z"] if args.model == "vae" else ["z1", "z2"]
    units = [units] if args.model == "vae" else units
    results["active_units"] = {n: u.num_active for n, u in zip(names, units)}
    return results


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    resuming = not fresh_start(args)

    load = functools.partial(example_utils.load_split, args, "binarized_mnist")
    x_train = load("train")[: args.max_train_examples]
    x_val, x_test = load("validation"), load("test")
    prior, pseudo_idx = make_prior(args, x_train)
    model = make_model(args, prior)
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        jit_compile=True,
        steps_per_execution=args.steps_per_execution,
    )
    model.build((None,) + x_train.shape[1:])
    is_vamp = args.prior in ("vamp", "vamp_data")
    initial = keras.ops.convert_to_numpy(model.prior.pseudo_inputs) if is_vamp else None

    bound = "elbo" if args.objective == "elbo" else "iwae_bound"
    callbacks, clock, stopper = make_callbacks(args, "val_" + bound, x_test)
    print(
        f"{args.model} + {args.prior} ({args.objective}, k={args.num_samples}) on "
        f"{len(x_train)} binarized_mnist images; out-dir {args.out_dir}"
        + (f", resuming from {args.backup_dir}" if resuming else "")
    )
    trained_path = os.path.join(args.out_dir, TRAINED)
    trained = finished_training(args)
    if trained is not None:
        trained.pop("training_args")
        print(f"training finished earlier ({trained_path}): scoring its best weights")
        model.load_weights(os.path.join(args.out_dir, "best.weights.h5"))
    else:
        model.fit(
            batches(x_train, args.batch_size, args.seed),
            epochs=args.epochs,
            validation_data=batches(x_val, args.batch_size),
            shuffle=False,  # the dataset reshuffles itself every epoch
            callbacks=callbacks,
            verbose=2,
        )  # ends with the best epoch's weights (EarlyStoppingToFile)
        trained = {
            "epochs_run": stopper.last_epoch + 1,  # earlier runs' epochs included
            "best_epoch": stopper.best_epoch + 1,
            f"best_val_{bound}": stopper.best,
            "train_seconds": clock.total,
        }
        flags = {k: getattr(args, k) for k in TRAINING_ARGS}
        with open(trained_path + ".tmp", "w") as f:
            json.dump({**trained, "training_args": flags}, f, indent=2)
        os.replace(trained_path + ".tmp", trained_path)  # never a half-written file

    results = {
        "model": args.model,
        "prior": args.prior,
        "objective": args.objective,
        "num_samples": args.num_samples,
        "args": vars(args),
        **trained,
        **score(model, args, x_test, bound),
        "latent_dim": args.latent_dim,
        "keras_vae_version": keras_vae.__version__,
    }
    save_pictures(model, args, x_test)
    if is_vamp:
        change = keras.ops.convert_to_numpy(model.prior.pseudo_inputs) - initial
        results["pseudo_inputs_max_abs_change"] = float(np.max(np.abs(change)))
    if pseudo_idx is not None:
        results["pseudo_input_train_indices"] = pseudo_idx.tolist()
    path = os.path.join(args.out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(
        f"best epoch {results['best_epoch']} of {results['epochs_run']}, validation "
        f"{bound} {results[f'best_val_{bound}']:.2f}; active units {results['active_units']}; "
        f"results in {path}"
    )
    print(
        f"test NLL: {results['test_nll']:.2f} nats ({results['nll_samples']} "
        f"importance samples, {results['nll_examples']} test images)"
    )


if __name__ == "__main__":
    main()
