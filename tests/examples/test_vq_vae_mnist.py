"""examples/vq_vae_mnist: a tiny end-to-end run on the real MNIST.

`train.py` runs in a fresh interpreter with a tiny budget (512 training and
200 test images, small networks, one epoch per phase), then again to check
that finished phases resume from `--backup-dir`. Skips when no prepared TFDS
`mnist` is found.
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
SCRIPT = ROOT / "examples" / "vq_vae_mnist" / "train.py"
PNG = b"\x89PNG\r\n\x1a\n"
TINY = (
    "--max-train-examples 512 --max-test-examples 200 --epochs 1 --prior-epochs 1 "
    "--num-embeddings 16 --embedding-dim 4 --hidden-units 8 --residual-units 4 "
    "--prior-hidden-units 8 --prior-layers 2 --num-samples 4"
).split()


DATA_DIR = prepared_tfds_dir("mnist")
pytestmark = requires_tfds("mnist")


def run(tmp_path, *args):
    return run_script(SCRIPT, *TINY, "--data-dir", DATA_DIR, *args, cwd=tmp_path)


def test_train_report_and_resume(tmp_path):
    out, backup = tmp_path / "run", tmp_path / "backup"
    stdout = run(tmp_path, "--out-dir", str(out), "--backup-dir", str(backup))
    results = json.loads((out / "results.json").read_text())
    assert (results["train_examples"], results["test_examples"]) == (512, 200)
    assert results["code_shape"] == [7, 7]
    assert 0.0 < results["test_reconstruction_mse"] < 0.5
    assert 1.0 <= results["codebook_perplexity"] <= 16.0
    assert results["codes_used"] == round(results["codebook_usage"] * 16)
    # A K-way code costs at most log2 K = 4 bits once the prior has learned
    # the marginal; one epoch on 512 maps gets close.
    assert 0.0 < results["prior_test_bits_per_code"] < 5.0
    nll = results["prior_test_nll_nats_per_map"]
    assert math.isclose(nll, results["prior_test_bits_per_code"] * 49 * math.log(2))
    assert 0.0 < results["test_bits_per_dim"] < 16.0
    match = re.search(r"test reconstruction MSE: ([0-9.]+);", stdout)
    assert match and abs(float(match.group(1)) - results["test_reconstruction_mse"]) < 1e-4
    assert f"prior test NLL: {nll:.2f} nats per code map" in stdout
    for name in ("samples.png", "reconstructions.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert "perplexity" in (out / "history_vqvae.csv").read_text().splitlines()[0]
    assert "bits_per_code" in (out / "history_prior.csv").read_text().splitlines()[0]

    stdout = run(tmp_path, "--out-dir", str(out), "--backup-dir", str(backup))
    assert "phase 'vqvae' already finished" in stdout
    assert "phase 'prior' already finished" in stdout
    again = json.loads((out / "results.json").read_text())
    assert again["train_seconds_this_call"] == 0.0
    assert again["test_reconstruction_mse"] == pytest.approx(results["test_reconstruction_mse"])
