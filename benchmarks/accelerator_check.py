"""Accelerator check: every model family trains, the log-likelihood oracle holds.

One script for a machine with a GPU (or TPU): Keras's JAX backend with
CUDA, or TensorFlow with a GPU. It prints the devices the backend sees and
the versions, then

1. trains each model family a few hundred steps at its paper's size and
   reports examples/s (steps x batch / median seconds of the timed epochs;
   the first epoch, which compiles, is not timed):

       vae       VAE, gated MLP 784-300-300-40, standard normal prior
       iwae      the same, objective="iwae", k = 5          (Burda et al.)
       vamp      the same with VampPrior(500)               (Tomczak & Welling)
       hvae      HierarchicalVAE, L = 2, latents 40-40, gated MLP 300
       lvae      LadderVAE at its defaults: latents 64-32-16-8-4, MLP 512-...-32,
                 batch norm, batch 256                      (Sønderby et al.)
       vqvae     VQVAE at its defaults (K = 512 codes of size 64, 128 filters),
                 28x28 images, batch 128                    (van den Oord et al.)
       pixelcnn  PixelCNN at its defaults (64 filters, 8 gated blocks) on the
                 VQ-VAE's 7x7 codes, a few steps
       vhpvae    VHPVAE, latent 32, gated MLP 300-300, kappa^2 = 75,
                 HierarchicalPrior at its defaults          (Klushyn et al.)

   A family fails when a loss is not finite or its check metric did not
   improve from the first epoch's mean to the last's (`loss`; the VQ-VAE's
   `reconstruction_loss`; the VHP-VAE's `elbo`, since its loss is a
   Lagrangian whose multiplier grows while the constraint is violated);

2. checks the importance-sampled log-likelihood against the linear-Gaussian
   oracles of `keras_vae.testing.linear_gaussian` (models with a closed-form
   log p(x)), with `keras_vae.diagnostics.log_likelihood` on the device:

       vae_exact      q(z|x) = p(z|x): every weight is p(x), so the estimate
                      is exact up to rounding:  max_n |err_n| <= EXACT_TOL
       *_perturbed    an over-dispersed, shifted q (VAE, HVAE, LVAE, VHP-VAE):
                      the S-sample IWAE bound, whose bias shrinks as 1/S:
                      |mean_n err_n| <= PERTURBED_MEAN_TOL and
                      max_n |err_n| <= PERTURBED_MAX_TOL

   err_n = estimate - exact log p(x_n) in nats, x_n drawn from the model;

3. times `keras_vae.diagnostics.log_likelihood` with S = 5000 samples on
   10,000 test images with the trained `vae` (the papers' scale), after one
   compiling batch. If one timed batch says the whole would take longer than
   `--ll-budget-s`, fewer images are scored; the size used is printed, with
   the time extrapolated to 10k x 5000.

The data is synthetic by default: binarized images drawn from a mixture of
ten random blob patterns (no dataset is needed on the accelerator machine);
`--mnist-dir` reads MNIST's IDX files instead (statically binarized). A JSON
of every figure goes to `--out`. The exit status is 1 when a family fails or
an oracle check is off, 0 otherwise. Nothing here imports TensorFlow unless
KERAS_BACKEND=tensorflow. `--tiny` runs small sizes and few steps (a CPU
smoke test, `tests/test_accelerator_check.py`).

    KERAS_BACKEND=jax python benchmarks/accelerator_check.py --out check.json
    KERAS_BACKEND=jax python benchmarks/accelerator_check.py --tiny --out tiny.json

On this workplace's H200 machine (the `run` tool; it carries the working
tree, has JAX with CUDA but neither TensorFlow nor Keras): once, here, fetch
the wheels (`benchmarks/prepare_accelerator_wheels.sh`, into the git-ignored
`.whl/`), then call `run` with `carry: [".whl"]`, `timeout_s: 420` and

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 && python3 benchmarks/accelerator_check.py --require-accelerator --out $OUT/accelerator_check.json 2>&1 | tee $OUT/accelerator_check.log

The whole check is meant to finish within 5 minutes on an H200 (it prints
the seconds of each stage and the total).
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

FAMILIES = ("vae", "iwae", "vamp", "hvae", "lvae", "vqvae", "pixelcnn", "vhpvae")
ORACLES = ("vae_exact", "vae_perturbed", "hvae_perturbed", "lvae_perturbed", "vhp_perturbed")

# Tolerances of the oracle checks, in nats per example. With the exact
# posterior only float32 rounding separates the estimate from log p(x) (far
# below 1e-3 nats on CPU; TF32 matrix products on a GPU add ~1e-3 relative
# error to each weight, which the average over S samples mostly cancels).
# With the perturbed posterior the bound's bias is O(1/S) and its spread over
# examples, at S = 500 already, stays within a few tenths of a nat for
# these small models.
EXACT_TOL = 0.02
PERTURBED_MEAN_TOL = 0.05
PERTURBED_MAX_TOL = 0.3

# Sizes: the papers' (default) and --tiny's. Steps are steps per epoch.
PAPER = dict(
    epochs=4,
    steps=100,
    pixelcnn_steps=25,
    vae=dict(latent_dim=40, hidden_units=(300, 300)),
    vamp_components=500,
    hvae=dict(latent_dims=(40, 40), hidden_units=(300,)),
    lvae=dict(),  # the class defaults are the paper's
    vqvae=dict(),
    pixelcnn=dict(),
    vhpvae=dict(latent_dim=32, hidden_units=(300, 300)),
    vhp_prior=dict(),
    batch=dict(lvae=256, vqvae=128, pixelcnn=128),
    default_batch=100,
    oracle_samples=5000,
    oracle_examples=200,
    ll_examples=10000,
    ll_samples=5000,
    ll_batch=500,
)
TINY = dict(
    epochs=3,
    steps=8,
    pixelcnn_steps=4,
    vae=dict(latent_dim=8, hidden_units=(32, 32)),
    vamp_components=10,
    hvae=dict(latent_dims=(8, 4), hidden_units=(32,)),
    lvae=dict(latent_dims=(8, 4), hidden_units=(32, 16)),
    vqvae=dict(num_embeddings=16, embedding_dim=4, filters=16, residual_units=8),
    pixelcnn=dict(filters=16, num_layers=2),
    vhpvae=dict(latent_dim=8, hidden_units=(32,)),
    vhp_prior=dict(hidden_units=(16,), num_importance_samples=4),
    batch=dict(),
    default_batch=32,
    oracle_samples=500,
    oracle_examples=50,
    ll_examples=64,
    ll_samples=50,
    ll_batch=32,
)

# Check metric of each family and whether it should fall ("min") or rise.
CHECK_METRIC = {"vqvae": ("reconstruction_loss", "min"), "vhpvae": ("elbo", "max")}
# Adam learning rates: the papers' where they differ from 1e-3 (Tomczak &
# Welling 5e-4, Sønderby et al. 2e-3, van den Oord et al. 2e-4).
LEARNING_RATE = {"vamp": 5e-4, "hvae": 5e-4, "lvae": 2e-3, "vqvae": 2e-4}
VHP_KAPPA = math.sqrt(75.0)  # examples/vhp_vae's MNIST default (kappa^2 = 75 nats)


def environment(require_accelerator):
    """Backend, versions and devices; TensorFlow is imported only as the backend."""
    import keras

    import keras_vae

    backend = keras.backend.backend()
    env = {
        "backend": backend,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "keras_vae": keras_vae.__version__,
    }
    if backend == "jax":
        import jax
        import jaxlib

        env.update(
            jax=jax.__version__,
            jaxlib=jaxlib.__version__,
            default_backend=jax.default_backend(),
            devices=[f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()],
        )
        accelerated = jax.default_backend() in ("gpu", "tpu")
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        env.update(
            tensorflow=tf.__version__,
            default_backend="gpu" if gpus else "cpu",
            devices=[d.name for d in tf.config.list_physical_devices()],
        )
        accelerated = bool(gpus)
    else:
        raise SystemExit(f"Expected KERAS_BACKEND=jax or tensorflow. Received: {backend!r}")
    env["accelerated"] = accelerated
    for key, value in env.items():
        print(f"{key}: {value}")
    if require_accelerator and not accelerated:
        raise SystemExit(f"--require-accelerator: the {backend} backend sees no GPU or TPU")
    return env


# ------------------------------------------------------------------ data
def synthetic_images(num, seed, side=28, num_classes=10):
    """Binarized images from a mixture of `num_classes` blob patterns.

    Each pattern is a thresholded sum of random Gaussian blobs (about a fifth
    of the pixels on, as in MNIST); an image picks a pattern, shifts it by up
    to two pixels and draws every pixel from Bernoulli(0.9) where the pattern
    is on and Bernoulli(0.02) elsewhere. Float32 `(num, side, side, 1)`.
    """
    rng = np.random.default_rng(seed)
    grid = np.arange(side)
    patterns = []
    for _ in range(num_classes):
        field = np.zeros((side, side))
        for cy, cx in rng.uniform(6, side - 6, size=(6, 2)):
            width = rng.uniform(1.5, 3.5)
            field += np.exp(-((grid[:, None] - cy) ** 2 + (grid[None, :] - cx) ** 2) / width**2)
        patterns.append(field > np.quantile(field, 0.8))
    # Every pattern at every shift in [-2, 2]^2, then one lookup per image.
    shifted = np.stack(
        [np.roll(pt, (dy, dx), axis=(0, 1)) for pt in patterns for dy in range(-2, 3)
         for dx in range(-2, 3)]
    )  # fmt: skip
    on = shifted[rng.integers(len(shifted), size=num)]
    probs = np.where(on, 0.9, 0.02)
    return (rng.random(probs.shape) < probs).astype("float32")[..., None]


def mnist_images(mnist_dir, split, num, seed):
    """MNIST's IDX images, statically binarized, float32 `(num, 28, 28, 1)`."""
    from keras_vae.datasets import idx_source

    directory = idx_source.find_idx_dir(mnist_dir)
    if directory is None:
        raise SystemExit(f"No MNIST IDX files in --mnist-dir {mnist_dir!r}")
    x = idx_source.read_split(directory, split)[:num].astype("float32") / 255.0
    return (np.random.default_rng(seed).random(x.shape) < x).astype("float32")


# ---------------------------------------------------------------- models
def build_family(name, size, seed):
    """A compiled-to-be model of family `name` at `size` (PAPER or TINY)."""
    import keras_vae

    models = keras_vae.models
    if name in ("vae", "iwae", "vamp"):
        extra = {
            "vae": {},
            "iwae": {"objective": "iwae", "num_importance_samples": 5},
            "vamp": {"prior": keras_vae.priors.VampPrior(size["vamp_components"])},
        }[name]
        return models.VAE(**size["vae"], seed=seed, **extra)
    if name == "hvae":
        return models.HierarchicalVAE(**size["hvae"], seed=seed)
    if name == "lvae":
        return models.LadderVAE(**size["lvae"], seed=seed)
    if name == "vqvae":
        return models.VQVAE(**size["vqvae"], seed=seed)
    if name == "vhpvae":
        prior = keras_vae.priors.HierarchicalPrior(**size["vhp_prior"], seed=seed)
        return models.VHPVAE(kappa=VHP_KAPPA, prior=prior, **size["vhpvae"], seed=seed)
    raise ValueError(f"Unknown family {name!r}")


def improved(values, mode):
    return values[-1] < values[0] if mode == "min" else values[-1] > values[0]


def train_family(name, model, x, batch, epochs, seed):
    """Fit `model` on `x` (one epoch = all of `x`); figures of the run."""
    import keras
    from epoch_timer import EpochTimer

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE.get(name, 1e-3)))
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(x, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=[timer]).history  # fmt: skip
    wall = time.perf_counter() - start
    metric, mode = CHECK_METRIC.get(name, ("loss", "min"))
    timed = sorted(w for w, _ in timer.times[1:])
    median = timed[len(timed) // 2] if timed else float("nan")
    values = [float(v) for v in history[metric]]
    losses = [float(v) for v in history["loss"]]
    finite = all(math.isfinite(v) for v in values + losses)
    ok = finite and improved(values, mode)
    result = {
        "batch_size": batch,
        "learning_rate": LEARNING_RATE.get(name, 1e-3),
        "steps": epochs * (len(x) // batch),
        "examples_per_s": len(x) / median,
        "first_epoch_s": timer.times[0][0],
        "timed_epoch_s": [w for w, _ in timer.times[1:]],
        "wall_s": wall,
        "check_metric": metric,
        "check_mode": mode,
        "check_values": values,
        "loss": losses,
        "finite": finite,
        "ok": ok,
    }
    if not ok:
        result["error"] = (
            "non-finite loss or metric" if not finite else f"{metric} did not {mode}imize"
        )
    return result


def run_families(args, size, x_pool, failures, results, report):
    """Train every family of `args.models` in turn, filling `results`.

    A family that raises is reported and the others still run. PixelCNN
    trains after the VQ-VAE, on its codes. Returns the trained models (the
    `vae` is timed on the log-likelihood afterwards).
    """
    import keras_vae

    trained = {}
    flat_pool = x_pool.reshape(len(x_pool), -1)
    order = [m for m in args.models if m != "pixelcnn"] + [
        m for m in args.models if m == "pixelcnn"
    ]
    for name in order:
        batch = size["batch"].get(name, size["default_batch"])
        start = time.perf_counter()
        try:
            if name == "pixelcnn":
                if "vqvae" not in trained:
                    raise RuntimeError("pixelcnn trains on the vqvae's codes: train vqvae too")
                vqvae = trained["vqvae"]
                x = np.asarray(vqvae.encode(x_pool[: batch * size["pixelcnn_steps"]]))
                model = keras_vae.models.PixelCNN(
                    vqvae.num_embeddings, vqvae.code_shape, **size["pixelcnn"], seed=args.seed
                )
            else:
                num = batch * size["steps"]
                x = x_pool[:num] if name == "vqvae" else flat_pool[:num]
                model = build_family(name, size, args.seed)
            result = train_family(name, model, x, batch, size["epochs"], args.seed)
            result["parameters"] = int(model.count_params())
            trained[name] = model
        except Exception as e:  # report every family, then fail
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        result["stage_s"] = time.perf_counter() - start
        results[name] = result
        report_family(name, result, failures)
        save(report, args.out)
    return trained


def report_family(name, result, failures):
    if result["ok"]:
        values = ", ".join(f"{v:.4g}" for v in result["check_values"])
        print(
            f"train {name:8s} ok   {result['examples_per_s']:10.0f} examples/s  "
            f"batch {result['batch_size']}, {result['steps']} steps, first epoch "
            f"{result['first_epoch_s']:.1f}s, {result['check_metric']} by epoch: {values}",
            flush=True,
        )
    else:
        failures.append(f"train {name}: {result['error']}")
        print(f"train {name:8s} FAIL {result['error']}", flush=True)


# ---------------------------------------------------------------- oracle
def oracle_model(name, seed):
    from keras_vae.testing import linear_gaussian as lg

    kind, posterior = name.split("_")
    if kind == "vae":
        return lg.linear_gaussian_vae(4, 16, scale=0.5, seed=seed, posterior=posterior)
    builder = {
        "hvae": lg.linear_gaussian_hvae,
        "lvae": lg.linear_gaussian_lvae,
        "vhp": lg.linear_gaussian_vhp_vae,
    }[kind]
    return builder(seed=seed, posterior=posterior)


def run_oracles(args, size, failures):
    import keras_vae

    out = {}
    for name in args.oracles:
        start = time.perf_counter()
        try:
            model, exact_log_px = oracle_model(name, args.seed)
            x = sample_oracle_x(model, size["oracle_examples"], args.seed)
            result = keras_vae.diagnostics.log_likelihood(
                model, x, size["oracle_samples"], batch_size=size["oracle_examples"]
            )
            err = result.log_likelihood - exact_log_px(x)
            entry = {
                "examples": len(x),
                "samples": size["oracle_samples"],
                "data_dim": int(x.shape[-1]),
                "mean_error": float(np.mean(err)),
                "max_abs_error": float(np.max(np.abs(err))),
                "mean_exact_log_px": float(np.mean(exact_log_px(x))),
            }
            if name.endswith("exact"):
                entry["tolerance"] = {"max_abs_error": EXACT_TOL}
                ok = entry["max_abs_error"] <= EXACT_TOL
            else:
                entry["tolerance"] = {
                    "abs_mean_error": PERTURBED_MEAN_TOL,
                    "max_abs_error": PERTURBED_MAX_TOL,
                }
                ok = (
                    abs(entry["mean_error"]) <= PERTURBED_MEAN_TOL
                    and entry["max_abs_error"] <= PERTURBED_MAX_TOL
                )
            entry["ok"] = bool(ok and np.all(np.isfinite(err)))
        except Exception as e:
            entry = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        entry["stage_s"] = time.perf_counter() - start
        out[name] = entry
        if entry["ok"]:
            print(
                f"oracle {name:15s} ok   mean err {entry['mean_error']:+.2e}, max |err| "
                f"{entry['max_abs_error']:.2e} nats (tolerance {entry['tolerance']}; "
                f"{entry['examples']} x {entry['samples']} samples)",
                flush=True,
            )
        else:
            reason = entry.get("error") or (
                f"mean err {entry['mean_error']:+.3e}, max |err| {entry['max_abs_error']:.3e} "
                f"outside {entry['tolerance']}"
            )
            failures.append(f"oracle {name}: {reason}")
            print(f"oracle {name:15s} FAIL {reason}", flush=True)
    return out


def sample_oracle_x(model, num, seed):
    """Draws from the oracle model's own p(x): z from the prior, x = mean + noise."""
    rng = np.random.default_rng(seed + 1)
    mean = np.asarray(model.sample(num), "float64")  # the mean of p(x | z), z ~ p(z)
    scale = float(model.likelihood.scale)
    return (mean + scale * rng.normal(size=mean.shape)).astype("float32")


# -------------------------------------------------------- log-likelihood
def time_log_likelihood(args, size, model, x_test, failures):
    """Time `diagnostics.log_likelihood` at S samples, scaled down to the budget."""
    import keras_vae

    samples, batch = size["ll_samples"], size["ll_batch"]
    want = min(size["ll_examples"], len(x_test)) // batch * batch
    x_test = x_test[:want]
    start = time.perf_counter()
    model.log_likelihood(x_test[:batch], samples)  # compiles the chunk function
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    model.log_likelihood(x_test[batch : 2 * batch] if want > batch else x_test[:batch], samples)
    batch_s = time.perf_counter() - start
    fits = max(1, int(args.ll_budget_s / max(batch_s, 1e-9)))
    num = min(want, fits * batch)
    start = time.perf_counter()
    result = keras_vae.diagnostics.log_likelihood(model, x_test[:num], samples, batch_size=batch)
    wall = time.perf_counter() - start
    out = {
        "examples": num,
        "samples": samples,
        "batch_size": batch,
        "compile_s": compile_s,
        "wall_s": wall,
        "examples_per_s": num / wall,
        "seconds_for_10k_x_5000": wall * (10000 / num) * (5000 / samples),
        "nll": result.nll,
        "ok": bool(math.isfinite(result.nll)),
    }
    print(
        f"log-likelihood: {num} images x {samples} samples in {wall:.1f}s "
        f"(batch {batch}, first call {compile_s:.1f}s); NLL {result.nll:.2f} nats; "
        f"{out['seconds_for_10k_x_5000']:.1f}s extrapolated to 10,000 x 5000",
        flush=True,
    )
    if num < want:
        print(f"  (scaled down from {want} images to fit --ll-budget-s {args.ll_budget_s})")
    if not out["ok"]:
        failures.append(f"log-likelihood: NLL {result.nll}")
    return out


def save(report, path):
    """Write `report` as JSON to `path` (if any), replacing the last write."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(report, f, indent=1)
        os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tiny", action="store_true", help="small sizes, few steps (CPU smoke test)")
    p.add_argument("--out", help="write the figures as JSON here")
    p.add_argument("--mnist-dir", help="MNIST IDX files instead of synthetic images")
    p.add_argument("--models", default=",".join(FAMILIES), help="families to train")
    p.add_argument("--oracles", default=",".join(ORACLES), help="oracle checks to run")
    p.add_argument("--ll-budget-s", type=float, default=90.0, help="seconds for the LL timing")
    p.add_argument("--require-accelerator", action="store_true", help="fail without GPU/TPU")
    p.add_argument("--epochs", type=int, help="epochs per family (first one untimed)")
    p.add_argument("--steps", type=int, help="steps per epoch")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.oracles = [o for o in args.oracles.split(",") if o]
    for m in args.models:
        if m not in FAMILIES:
            p.error(f"unknown family {m!r}; choose from {FAMILIES}")
    for o in args.oracles:
        if o not in ORACLES:
            p.error(f"unknown oracle {o!r}; choose from {ORACLES}")

    begin = time.perf_counter()
    size = dict(TINY if args.tiny else PAPER)
    if args.epochs is not None:
        size["epochs"] = max(2, args.epochs)
    if args.steps is not None:
        size["steps"] = size["pixelcnn_steps"] = args.steps
    report = {"args": vars(args), "size": "tiny" if args.tiny else "paper"}
    report["environment"] = environment(args.require_accelerator)

    start = time.perf_counter()
    largest_batch = max([size["default_batch"], *size["batch"].values()])
    train_num = largest_batch * size["steps"]
    test_num = size["ll_examples"]
    if args.mnist_dir:
        x_pool = mnist_images(args.mnist_dir, "train", train_num, args.seed)
        x_test = mnist_images(args.mnist_dir, "test", test_num, args.seed + 1)
        data = "mnist (IDX, static binarization)"
    else:
        x_pool = synthetic_images(train_num, args.seed)
        x_test = synthetic_images(test_num, args.seed + 1)
        data = "synthetic binarized blobs"
    report["data"] = {"source": data, "train_pool": len(x_pool), "test": len(x_test)}
    print(f"data: {data}, {len(x_pool)} train / {len(x_test)} test images "
          f"({time.perf_counter() - start:.1f}s)", flush=True)  # fmt: skip

    failures = []
    report["failures"] = failures
    save(report, args.out)  # after every stage: a run cut short keeps its figures
    report["train"] = {}
    trained = run_families(args, size, x_pool, failures, report["train"], report)
    report["oracle"] = run_oracles(args, size, failures)
    save(report, args.out)
    if "vae" in trained:
        start = time.perf_counter()
        try:
            flat = x_test.reshape(len(x_test), -1)
            ll = time_log_likelihood(args, size, trained["vae"], flat, failures)
        except Exception as e:
            ll = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            failures.append(f"log-likelihood: {ll['error']}")
        ll["stage_s"] = time.perf_counter() - start
        report["log_likelihood"] = ll

    report["tensorflow_imported"] = "tensorflow" in sys.modules
    report["total_s"] = time.perf_counter() - begin
    report["ok"] = not failures
    save(report, args.out)
    print(f"tensorflow imported: {report['tensorflow_imported']}")
    print(f"total: {report['total_s']:.1f}s; " + ("all ok" if not failures else "FAILED:"))
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
