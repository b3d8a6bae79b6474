"""examples/conditional_vae: tiny end-to-end runs in a fresh interpreter.

The default run uses the 8x8 digits (offline, bundled with scikit-learn);
the MNIST run reads the IDX files of `KERAS_VAE_RAW_DATA_DIR/mnist` through
`--mnist-dir` (skipped without them; `large`).
"""

import json
import math
from pathlib import Path

import pytest

from keras_vae.testing import run_script
from keras_vae.testing.real_data import raw_data_dir
from keras_vae.testing.real_data import requires_data

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "conditional_vae" / "train.py"
PNG = b"\x89PNG\r\n\x1a\n"
TINY = (
    "--epochs", "2",
    "--max-train-examples", "300",
    "--hidden-units", "16",
    "--latent-dim", "4",
    "--nll-samples", "10",
    "--nll-examples", "50",
    "--samples-per-class", "3",
)  # fmt: skip
RAW = raw_data_dir()
MNIST = None if RAW is None else RAW / "mnist"


def check_run(out, pixels):
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and results["nll_examples"] == 50
    # -log p(x | y) of a fair coin per pixel: a model of binary images is
    # below it as soon as it has learned anything.
    assert 0 < results["test_nll"] < pixels * math.log(2), results
    assert math.isfinite(results["test_elbo"])
    for name in ["samples_by_class.png"] + [f"samples_class_{d}.png" for d in range(10)]:
        assert (out / name).read_bytes()[:8] == PNG, name
    assert (out / "cvae.keras").is_file()
    return results


def test_digits_run_writes_a_grid_per_class(tmp_path):
    out = tmp_path / "run"
    stdout = run_script(
        SCRIPT, "--dataset", "digits", *TINY, "--out-dir", out, cwd=tmp_path
    )  # fmt: skip
    assert "test -log p(x | y):" in stdout
    check_run(out, 64)


@requires_data(
    MNIST is not None and (MNIST / "train-labels-idx1-ubyte.gz").exists(),
    reason=f"no MNIST IDX files under KERAS_VAE_RAW_DATA_DIR={RAW}",
)
@pytest.mark.large
def test_mnist_idx_files(tmp_path):
    out = tmp_path / "mnist"
    # 30 steps at a high rate: enough to beat the coin flip clearly.
    fast = ("--max-train-examples", "300", "--batch-size", "20", "--lr", "3e-3")
    run_script(SCRIPT, *TINY, *fast, "--mnist-dir", MNIST, "--out-dir", out, cwd=tmp_path)
    assert check_run(out, 784)["mnist_dir"]
