"""Train one model of the Ladder VAE paper's MNIST comparison, with its protocol.

Sønderby et al. (2016): five stochastic layers of 64-32-16-8-4 units over
deterministic MLP blocks of 512-256-128-64-32 (two dense layers each, leaky
ReLU), Bernoulli likelihood, dynamically binarized MNIST (all 60,000 training
images, re-binarized every epoch), Adam 2e-3, batches of 256, 2000 epochs,
linear KL warm-up over the first 200; the best LVAE is fine-tuned with an
importance-weighted bound (k = 10). Test NLL with 5000 importance samples.

    python examples/ladder_vae_mnist/train.py --model vae         # no BN, no WU
    python examples/ladder_vae_mnist/train.py --model vae_bn_wu   # VAE+BN+WU
    python examples/ladder_vae_mnist/train.py --model lvae        # LVAE+BN+WU
    python examples/ladder_vae_mnist/compare.py                   # table + PNG

"vae" models use the paper's bottom-up inference q(z_1|x) ... q(z_L|z_{L-1})
(`LadderVAE(inference="bottom_up")`), the same generative model as "lvae".
Add `--backup-dir DIR` to long runs: a killed run resumes where it stopped.
Outputs in --out-dir: results.json, history.csv (per-layer KL and active
units), samples.png, final.weights.h5.
"""

import argparse
import functools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils  # noqa: E402

MODELS = {
    # name: (inference, batch normalization, warm-up)
    "vae": ("bottom_up", False, False),
    "vae_bn_wu": ("bottom_up", True, True),
    "lvae": ("ladder", True, True),
}


def int_list(text):
    return tuple(int(v) for v in text.split(","))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--model", choices=tuple(MODELS), default="lvae")
    example_utils.add_training_arguments(p, 2000, 256, 2e-3)
    add("--warmup", type=int, default=200, help="KL warm-up epochs (200)")
    add("--finetune-epochs", type=int, default=0, help="IW fine-tuning epochs (0)")
    add("--finetune-samples", type=int, default=10, help="IW fine-tuning k (10)")
    add("--free-bits", type=float, help="KL floor per layer in nats (off)")
    add("--latent-dims", type=int_list, default=(64, 32, 16, 8, 4))
    add("--hidden-units", type=int_list, default=(512, 256, 128, 64, 32))
    example_utils.add_nll_arguments(p, 5000)
    add("--active-units-every", type=int, default=10, help="log every N epochs")
    example_utils.add_run_arguments(p, out_dir_help="default runs/ladder_vae_mnist/<model>")
    args = p.parse_args(argv)
    names = ("epochs", "batch_size", "nll_samples", "active_units_every")
    example_utils.require_positive(p, args, names)
    if args.finetune_epochs < 0 or args.warmup < 0:
        p.error("--finetune-epochs and --warmup must be non-negative")
    args.out_dir = args.out_dir or os.path.join("runs", "ladder_vae_mnist", args.model)
    return args


def load_data(args):
    """All 60k training intensities (binarized in the step) and the static test set."""
    load = functools.partial(example_utils.load_split, args, "mnist")
    x_train = np.concatenate(
        [load("train", binarization=None), load("validation", binarization=None)]
    )
    return x_train[: args.max_train_examples], load("test")


def make_model(args, objective="elbo", num_samples=1):
    inference, batch_norm, _ = MODELS[args.model]
    return keras_vae.models.LadderVAE(
        latent_dims=args.latent_dims,
        hidden_units=args.hidden_units,
        inference=inference,
        batch_norm=batch_norm,
        objective=objective,
        num_importance_samples=num_samples,
        free_bits=args.free_bits,
        dynamic_binarization=True,
        seed=args.seed,
    )


def train_phase(args, model, x_train, x_test, epochs, tag, warmup):
    """`fit` for `epochs`, resumable; returns the seconds spent in this call."""
    backup = Path(args.backup_dir, tag) if args.backup_dir else None
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        jit_compile=True,
        steps_per_execution=args.steps_per_execution,
    )
    callbacks = [keras_vae.callbacks.KLWarmUp(args.warmup)] if warmup else []
    callbacks.append(keras_vae.callbacks.ActiveUnits(x_test, every=args.active_units_every))
    history = Path(args.out_dir, f"history_{tag}.csv")
    return example_utils.fit_phase(
        model, x_train, tag, backup, history=history, callbacks=callbacks,
        epochs=epochs, batch_size=args.batch_size,
    )  # fmt: skip


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    x_train, x_test = load_data(args)
    _, _, warmup = MODELS[args.model]
    print(
        f"{args.model} on {len(x_train)} dynamically binarized MNIST images, "
        f"{args.epochs} epochs (+{args.finetune_epochs} IW k="
        f"{args.finetune_samples}); out-dir {args.out_dir}"
    )
    model = make_model(args)
    model.build((None,) + x_train.shape[1:])
    seconds = train_phase(args, model, x_train, x_test, args.epochs, "elbo", warmup)
    if args.finetune_epochs:
        tuned = make_model(args, "iwae", args.finetune_samples)
        tuned.build((None,) + x_train.shape[1:])
        tuned.set_weights(model.get_weights())
        seconds += train_phase(args, tuned, x_train, x_test, args.finetune_epochs, "iwae", False)
        model = tuned

    test = model.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)
    nll = example_utils.score_nll(model, x_test, args)
    units = keras_vae.diagnostics.active_units(model, x_test)
    results = {
        "model": args.model,
        "args": vars(args),
        "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs,
        "test_nll": nll.nll,
        "nll_samples": nll.num_importance_samples,
        "nll_examples": len(nll.log_likelihood),
        # log w at one z ~ q per image: an unbiased estimate of the test ELBO.
        "test_elbo": -keras_vae.diagnostics.log_likelihood(
            model, x_test, num_importance_samples=1, max_examples=args.nll_examples
        ).nll,
        "test_kl_per_layer": [float(test[f"kl_{i + 1}"]) for i in range(len(args.latent_dims))],
        "active_units": [u.num_active for u in units],
        "latent_dims": list(args.latent_dims),
        "train_seconds_this_call": seconds,
        "keras_vae_version": keras_vae.__version__,
    }
    model.save_weights(os.path.join(args.out_dir, "final.weights.h5"))
    example_utils.save_grid(
        os.path.join(args.out_dir, "samples.png"),
        keras.ops.convert_to_numpy(model.sample(100)),
        title="Samples: mean of p(x | z), z ~ p(z)",
    )
    path = os.path.join(args.out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"active units per layer (z_1 first): {results['active_units']}")
    print(
        f"test NLL: {nll.nll:.2f} nats ({nll.num_importance_samples} importance samples, "
        f"{results['nll_examples']} test images); results in {path}"
    )


if __name__ == "__main__":
    main()
