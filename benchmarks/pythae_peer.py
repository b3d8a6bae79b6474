"""Peer measurement: pythae 0.1.2 (PyTorch, CPU) on the keras_vae benchmark protocol.

Runs in the separate peer virtual environment (see benchmarks/PEER.md), never in
the main TensorFlow environment:

    $PEER_VENV/bin/python benchmarks/pythae_peer.py --model vae --time-only

Protocol (shared/REFERENCE.md, "Peer measured here"):

* dynamic MNIST read from the raw idx files: train = first 50,000 images of the
  training file, validation = last 10,000, test = the 10,000-image test file.
  Pixels are scaled to [0, 1].  Validation and test are binarized once with
  ``rng = numpy.random.RandomState(777)``: first
  ``x_val = rng.random_sample(x_val.shape) < x_val``, then the same for
  ``x_test``.  The training set is re-binarized (Bernoulli sampling) at the start
  of every epoch.
* the VampPrior paper's gated MLP: encoder GatedDense(784->300) ->
  GatedDense(300->300), then Linear(300->40) for the mean and
  Linear(300->40) -> Hardtanh(-6, 2) for the log-variance; decoder
  GatedDense(40->300) -> GatedDense(300->300) -> Linear(300->784) -> sigmoid;
  GatedDense(x) = Linear_h(x) * sigmoid(Linear_g(x)).  Weights He-normal
  (N(0, 2 / fan_in)), biases zero.
* Bernoulli likelihood (pythae ``reconstruction_loss="bce"``), Adam lr 5e-4,
  batch 100, E epochs (default 10), no KL warm-up.
* pythae's own model classes: ``VAE``, ``IWAE`` (k=5), ``VAMP`` (K=500), fed
  with the custom encoder/decoder below; the training loop is a plain PyTorch
  loop (no DataLoader, no pythae trainer callbacks), which is the fastest way to
  drive pythae models and lets us re-binarize every epoch.
* NLL: pythae's own ``get_nll`` (all three models have it), importance-sampled
  with ``--nll-samples`` samples on the first ``--nll-examples`` test images.
  ``get_nll`` returns the mean log-likelihood; we report its negation.
* examples/s = 50,000 / median training-epoch seconds (an epoch's time covers
  the re-binarization, the shuffle and all optimizer steps; not validation).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import sys
import time
from importlib import metadata

import numpy as np
import torch
import torch.nn as nn
from pythae.models import IWAE
from pythae.models import VAE
from pythae.models import VAMP
from pythae.models import IWAEConfig
from pythae.models import VAEConfig
from pythae.models import VAMPConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder
from pythae.models.nn import BaseEncoder

INPUT_DIM = 784
HIDDEN = 300
LATENT = 40
N_TRAIN = 50_000
N_VAL = 10_000
BINARIZE_SEED = 777
DEFAULT_DATA_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "mnist"
)


# --------------------------------------------------------------------------- data
def read_idx_images(path: str) -> np.ndarray:
    """Read an idx3-ubyte(.gz) image file into a float32 array (N, 784) in [0, 1]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">i4")
    if magic != 2051:
        raise ValueError(f"{path}: not an idx3 image file (magic {magic})")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)
    return pixels.reshape(int(n), int(rows) * int(cols)).astype(np.float32) / 255.0


def load_dynamic_mnist(data_dir: str):
    train_full = read_idx_images(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    test = read_idx_images(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
    x_train = train_full[:N_TRAIN]
    x_val = train_full[N_TRAIN : N_TRAIN + N_VAL]
    rng = np.random.RandomState(BINARIZE_SEED)
    x_val_bin = (rng.random_sample(x_val.shape) < x_val).astype(np.float32)
    x_test_bin = (rng.random_sample(test.shape) < test).astype(np.float32)
    return x_train, x_val_bin, x_test_bin


# ------------------------------------------------------------------- networks
def he_normal_(linear: nn.Linear) -> nn.Linear:
    nn.init.normal_(linear.weight, 0.0, math.sqrt(2.0 / linear.in_features))
    nn.init.zeros_(linear.bias)
    return linear


class GatedDense(nn.Module):
    """h(x) * sigmoid(g(x)) with two affine maps."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.h = he_normal_(nn.Linear(n_in, n_out))
        self.g = he_normal_(nn.Linear(n_in, n_out))

    def forward(self, x):
        return self.h(x) * torch.sigmoid(self.g(x))


class GatedEncoder(BaseEncoder):
    def __init__(self):
        BaseEncoder.__init__(self)
        self.body = nn.Sequential(GatedDense(INPUT_DIM, HIDDEN), GatedDense(HIDDEN, HIDDEN))
        self.mean = he_normal_(nn.Linear(HIDDEN, LATENT))
        self.log_var = he_normal_(nn.Linear(HIDDEN, LATENT))
        self.clip = nn.Hardtanh(min_val=-6.0, max_val=2.0)

    def forward(self, x):
        h = self.body(x.reshape(x.shape[0], -1))
        return ModelOutput(embedding=self.mean(h), log_covariance=self.clip(self.log_var(h)))


class GatedDecoder(BaseDecoder):
    def __init__(self):
        BaseDecoder.__init__(self)
        self.body = nn.Sequential(GatedDense(LATENT, HIDDEN), GatedDense(HIDDEN, HIDDEN))
        self.out = he_normal_(nn.Linear(HIDDEN, INPUT_DIM))

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.out(self.body(z))))


def build_model(name: str, iwae_k: int, vamp_k: int, vamp_pseudo_init: str):
    common = dict(input_dim=(INPUT_DIM,), latent_dim=LATENT, reconstruction_loss="bce")
    enc, dec = GatedEncoder(), GatedDecoder()
    if name == "vae":
        return VAE(VAEConfig(**common), encoder=enc, decoder=dec)
    if name == "iwae":
        return IWAE(IWAEConfig(number_samples=iwae_k, **common), encoder=enc, decoder=dec)
    if name == "vamp":
        model = VAMP(
            VAMPConfig(number_components=vamp_k, linear_scheduling_steps=0, **common),
            encoder=enc,
            decoder=dec,
        )
        if vamp_pseudo_init == "paper":
            # The VampPrior paper's pseudo-inputs: N(0.05, 0.01) weights, no bias.
            # pythae's layer keeps its bias, so it is zeroed and frozen.
            layer = model.pseudo_inputs[0]
            nn.init.normal_(layer.weight, 0.05, 0.01)
            nn.init.zeros_(layer.bias)
            layer.bias.requires_grad_(False)
        return model
    raise ValueError(name)


# ------------------------------------------------------------------ training
def train_epoch(model, opt, x_train_t, batch_size, epoch, gen):
    model.train()
    t0 = time.perf_counter()
    x_bin = torch.bernoulli(x_train_t, generator=gen)
    perm = torch.randperm(x_bin.shape[0], generator=gen)
    x_bin = x_bin[perm]
    total, n_batches = 0.0, 0
    for start in range(0, x_bin.shape[0], batch_size):
        batch = x_bin[start : start + batch_size]
        out = model({"data": batch}, epoch=epoch)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        total += out.loss.item()
        n_batches += 1
    return time.perf_counter() - t0, total / n_batches


@torch.no_grad()
def eval_loss(model, x, batch_size=100):
    """Mean of pythae's own training loss over x (for IWAE a surrogate, not a bound)."""
    model.eval()
    total, n = 0.0, 0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size]
        total += model({"data": batch}).loss.item() * batch.shape[0]
        n += batch.shape[0]
    return total / n


@torch.no_grad()
def own_is_nll(model, x, n_samples, batch_size):
    """Fallback importance-sampled NLL (used only if a model lacks get_nll)."""
    model.eval()
    log_px = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        lw = []
        for _ in range(max(1, n_samples // batch_size)):
            xr = xi.expand(batch_size, -1)
            enc = model.encoder(xr)
            mu, lv = enc.embedding, enc.log_covariance
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * lv)
            log_q = -0.5 * (lv + (z - mu) ** 2 / lv.exp()).sum(-1)
            log_p = model._log_p_z(z) if hasattr(model, "_log_p_z") else -0.5 * (z**2).sum(-1)
            rec = model.decoder(z)["reconstruction"]
            ll = -nn.functional.binary_cross_entropy(rec, xr, reduction="none").sum(-1)
            lw.append(ll + log_p - log_q)
        lw = torch.cat(lw)
        log_px.append((torch.logsumexp(lw, 0) - math.log(lw.shape[0])).item())
    return -float(np.mean(log_px))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["vae", "iwae", "vamp"], default="vae")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (2 with --time-only)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--iwae-k", type=int, default=5)
    p.add_argument("--vamp-k", type=int, default=500)
    p.add_argument(
        "--vamp-pseudo-init",
        choices=["pythae", "paper"],
        default="pythae",
        help="pythae: pythae's default Linear(K->784)+Hardtanh(0,1); "
        "paper: weights N(0.05, 0.01), bias zero and frozen",
    )
    p.add_argument("--nll-samples", type=int, default=1000)
    p.add_argument("--nll-examples", type=int, default=2000)
    p.add_argument(
        "--nll-batch",
        type=int,
        default=None,
        help="get_nll batch_size (default = --nll-samples: one pass per image)",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--time-only",
        action="store_true",
        help="only time training epochs; skip validation and NLL",
    )
    p.add_argument("--no-val", action="store_true", help="skip the per-epoch validation loss")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DIR", DEFAULT_DATA_DIR))
    p.add_argument("--json", default=None, help="write the results to this file")
    args = p.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (2 if args.time_only else 10)

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, x_val, x_test = load_dynamic_mnist(args.data_dir)
    x_train_t = torch.from_numpy(x_train)
    x_val_t = torch.from_numpy(x_val)
    x_test_t = torch.from_numpy(x_test)

    model = build_model(args.model, args.iwae_k, args.vamp_k, args.vamp_pseudo_init)
    opt = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=args.lr)
    n_params = sum(q.numel() for q in model.parameters() if q.requires_grad)
    print(
        f"pythae {metadata.version('pythae')} torch {torch.__version__} "
        f"threads={torch.get_num_threads()} model={args.model} params={n_params}",
        flush=True,
    )

    epoch_seconds, train_losses, val_losses = [], [], []
    for epoch in range(1, epochs + 1):
        secs, loss = train_epoch(model, opt, x_train_t, args.batch_size, epoch, gen)
        epoch_seconds.append(secs)
        train_losses.append(loss)
        msg = (
            f"epoch {epoch}/{epochs}: {secs:.2f}s ({N_TRAIN / secs:.0f} ex/s) train loss {loss:.3f}"
        )
        if not (args.time_only or args.no_val):
            val_losses.append(eval_loss(model, x_val_t, args.batch_size))
            msg += f" val loss {val_losses[-1]:.3f}"
        print(msg, flush=True)

    median = statistics.median(epoch_seconds)
    result = {
        "peer": "pythae",
        "pythae_version": metadata.version("pythae"),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "model": args.model,
        "iwae_k": args.iwae_k if args.model == "iwae" else None,
        "vamp_k": args.vamp_k if args.model == "vamp" else None,
        "vamp_pseudo_init": args.vamp_pseudo_init if args.model == "vamp" else None,
        "params": n_params,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "epoch_seconds": epoch_seconds,
        "median_epoch_seconds": median,
        "examples_per_s": N_TRAIN / median,
        "train_loss": train_losses,
        "train_loss_note": "pythae's own loss (IWAE: self-normalised gradient surrogate, not the bound)",
        "val_loss": val_losses or None,
        "nll": None,
    }
    print(f"median epoch {median:.2f}s -> {N_TRAIN / median:.0f} examples/s", flush=True)

    if not args.time_only:
        x_eval = x_test_t[: args.nll_examples]
        nll_batch = min(args.nll_batch or args.nll_samples, args.nll_samples)
        if args.nll_samples % nll_batch:
            # get_nll silently drops the remainder (n_samples // batch_size batches).
            raise SystemExit("--nll-batch must divide --nll-samples")
        model.eval()
        t0 = time.perf_counter()
        if hasattr(model, "get_nll"):
            method = f"pythae {type(model).__name__}.get_nll (under torch.no_grad)"
            with torch.no_grad():
                nll = -float(
                    model.get_nll(x_eval, n_samples=args.nll_samples, batch_size=nll_batch)
                )
        else:
            method = "own importance-sampled estimate (model has no get_nll)"
            nll = own_is_nll(model, x_eval, args.nll_samples, nll_batch)
        nll_secs = time.perf_counter() - t0
        result.update(
            nll=nll,
            nll_method=method,
            nll_samples=args.nll_samples,
            nll_examples=int(x_eval.shape[0]),
            nll_batch=nll_batch,
            nll_seconds=nll_secs,
        )
        print(
            f"NLL {nll:.2f} nats ({args.nll_samples} samples, {x_eval.shape[0]} test images; "
            f"{method}; {nll_secs:.0f}s)",
            flush=True,
        )

    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
