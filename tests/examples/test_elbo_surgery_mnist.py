"""examples/elbo_surgery: a tiny end-to-end run on the real binarized MNIST.

300 training images, 1 epoch, small networks: about 25 s per run on two CPU
cores, most of it importing TensorFlow and compiling. Skips when no prepared
TFDS `binarized_mnist` is found.
"""

import json
import math
from pathlib import Path

import pytest

from keras_vae.testing import prepared_tfds_dir
from keras_vae.testing import requires_tfds
from keras_vae.testing import run_script

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "elbo_surgery"
TINY = (
    "--max-train-examples", "300", "--epochs", "1", "--latent-dims", "2",
    "--vamp-latent-dim", "3", "--components", "5", "--hidden-units", "16",
    "--num-samples", "2",
    "--batch-size", "10", "--lr", "3e-3",  # 30 steps: beats an untrained model
)  # fmt: skip
# An untrained decoder outputs p ~ 0.5 per pixel: 784 log 2 = 543 nats.
# Measured on this budget: test ELBOs -494 (standard, 2-d) and -464 (vamp).
COIN_FLIP_NATS = 784 * math.log(2.0)
DATA_DIR = prepared_tfds_dir("binarized_mnist")


@requires_tfds("binarized_mnist")
def test_table_and_resume(tmp_path):
    out = tmp_path / "out"
    args = (*TINY, "--data-dir", DATA_DIR, "--out-dir", out)
    stdout = run_script(EXAMPLE / "train.py", *args, cwd=tmp_path)
    rows = json.loads((out / "results.json").read_text())
    assert [(r["name"], r["latent_dim"], r["epochs"]) for r in rows] == [
        ("standard_2d", 2, 1),
        ("vamp_3d", 3, 1),
    ]
    for row in rows:
        assert row["num_examples"] == 300 and row["num_samples"] == 2
        assert row["log_n"] == pytest.approx(math.log(300))
        assert row["mutual_information"] + row["marginal_kl"] == pytest.approx(
            row["avg_kl"], abs=1e-9
        )
        assert 0 <= row["mutual_information"] <= row["log_n"]
        assert -COIN_FLIP_NATS + 25 < row["test_elbo"] < 0, row["test_elbo"]
        assert row["surgery_seconds"] > 0 and row["train_seconds"] > 0
    assert rows[0]["avg_kl_analytic"] is not None  # standard normal: closed form
    assert rows[1]["avg_kl_analytic"] is None  # VampPrior: none
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| standard | 2 | 1 |")
    assert "-129.63, 7.41, 7.2, 0.21" in table[2]  # H&J's row beside ours
    assert "log N = 5.70" in stdout

    # A second run loads the finished models and reproduces the numbers.
    stdout = run_script(EXAMPLE / "train.py", *args, cwd=tmp_path)
    assert stdout.count("loading") == 2
    again = json.loads((out / "results.json").read_text())
    for old, new in zip(rows, again):
        assert new["mutual_information"] == pytest.approx(old["mutual_information"])
        assert "train_seconds" not in new


def test_readme_gives_the_command():
    readme = (EXAMPLE / "README.md").read_text()
    assert "python examples/elbo_surgery/train.py" in readme
    assert "python examples/elbo_surgery/train.py" in (EXAMPLE / "train.py").read_text()
