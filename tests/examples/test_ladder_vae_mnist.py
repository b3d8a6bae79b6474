"""examples/ladder_vae_mnist: tiny end-to-end runs on the real MNIST.

`train.py` runs in a fresh interpreter with a tiny budget (512 training
images, small networks, 2 epochs); `compare.py` then tabulates and plots the
runs. They skip when no prepared TFDS `mnist` is found.
"""

import json
import math
import re
from pathlib import Path

import pytest

from keras_vae.testing import prepared_tfds_dir
from keras_vae.testing import requires_tfds
from keras_vae.testing import run_script

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ladder_vae_mnist"
PNG = b"\x89PNG\r\n\x1a\n"
# --batch-size 32: 16 steps an epoch, enough to beat an untrained model.
TINY = (
    "--max-train-examples 512 --epochs 2 --warmup 1 --latent-dims 4,3,2 "
    "--hidden-units 32,16,8 --batch-size 32 --lr 5e-3 --nll-samples 10 "
    "--nll-examples 20 --active-units-every 1"
).split()


DATA_DIR = prepared_tfds_dir("mnist")
pytestmark = requires_tfds("mnist")


def run(script, tmp_path, *args):
    return run_script(EXAMPLE / script, *args, cwd=tmp_path)


def train(tmp_path, model, *args):
    out = tmp_path / "runs" / model
    stdout = run(
        "train.py",
        tmp_path,
        *TINY,
        "--model", model,
        "--data-dir", DATA_DIR,
        "--out-dir", str(out),
        *args,
    )  # fmt: skip
    return stdout, json.loads((out / "results.json").read_text()), out


def test_lvae_with_fine_tuning_resumes_and_compares(tmp_path):
    backup = tmp_path / "backup"
    stdout, results, out = train(
        tmp_path, "lvae", "--finetune-epochs", "1", "--backup-dir", str(backup)
    )
    assert (results["model"], results["epochs"], results["finetune_epochs"]) == (
        "lvae",
        2,
        1,
    )
    assert (results["nll_samples"], results["nll_examples"]) == (10, 20)
    # An untrained decoder outputs p ~ 0.5 per pixel: 784 log 2 = 543 nats;
    # the tiny run must beat it clearly.
    assert math.isfinite(results["test_nll"])
    assert 100 < results["test_nll"] < 784 * math.log(2.0) - 50, results["test_nll"]
    assert results["test_elbo"] < -results["test_nll"] + 1e-3 * results["test_nll"]
    assert len(results["active_units"]) == 3 and results["latent_dims"] == [4, 3, 2]
    assert all(0 <= a <= d for a, d in zip(results["active_units"], [4, 3, 2]))
    assert all(k >= 0 for k in results["test_kl_per_layer"])
    last = stdout.strip().splitlines()[-1]
    match = re.match(r"test NLL: ([0-9.]+) nats \(10 importance samples", last)
    assert match and abs(float(match.group(1)) - results["test_nll"]) < 0.01
    history = (out / "history_elbo.csv").read_text().splitlines()
    assert "active_units_3" in history[0] and "kl_3" in history[0]
    assert len(history) == 3 and (out / "history_iwae.csv").exists()
    assert (out / "samples.png").read_bytes()[:8] == PNG
    # Both phases finished: a rerun loads them instead of training again.
    stdout, again, _ = train(
        tmp_path, "lvae", "--finetune-epochs", "1", "--backup-dir", str(backup)
    )
    assert "phase 'elbo' already finished" in stdout
    assert "phase 'iwae' already finished" in stdout
    assert again["train_seconds_this_call"] == 0.0

    # compare.py over two runs: the second is this run's results relabelled
    # as the plain VAE (training it is the `large` test below; compare.py
    # only reads results.json).
    baseline = dict(results, model="vae", finetune_epochs=0, test_nll=results["test_nll"] + 1)
    (tmp_path / "runs" / "vae").mkdir()
    (tmp_path / "runs" / "vae" / "results.json").write_text(json.dumps(baseline))
    table = run("compare.py", tmp_path, "--runs-dir", str(tmp_path / "runs"))
    assert f"| VAE | 2 | {baseline['test_nll']:.2f} (10 samples, 20 images) |" in table
    assert f"| LVAE+BN+WU | 2 + 1 IW | {results['test_nll']:.2f} " in table
    assert (tmp_path / "runs" / "active_units.png").read_bytes()[:8] == PNG


@pytest.mark.large
def test_plain_vae_trains(tmp_path):
    # The `vae` model: bottom-up inference, no batch norm, no KL warm-up.
    _, results, out = train(tmp_path, "vae")
    assert (results["model"], results["epochs"], results["finetune_epochs"]) == ("vae", 2, 0)
    assert 100 < results["test_nll"] < 784 * math.log(2.0) - 50, results["test_nll"]
    assert len(results["active_units"]) == 3
    assert (out / "history_elbo.csv").exists() and not (out / "history_iwae.csv").exists()
    table = run("compare.py", tmp_path, "--runs-dir", str(tmp_path / "runs"))
    assert "| VAE | 2 |" in table
