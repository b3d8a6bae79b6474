"""examples/tabular_vae: a tiny end-to-end run on scikit-learn's diabetes table.

`train.py`'s `main` runs in this process (offline data, 2 epochs, 10
importance samples; in-process to spare a fresh interpreter's imports): the
run must write finite log-likelihoods for the VAE and both baselines, and
the table's layout.
"""

import importlib.util
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "tabular_vae" / "train.py"


def _train_module():
    spec = importlib.util.spec_from_file_location("tabular_vae_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diabetes_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    _train_module().main(
        ["--epochs", "2", "--nll-samples", "10", "--hidden-units", "16", "--quiet"]
        + ["--out-dir", str(out)]
    )
    stdout = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["columns"] == [["gaussian", 9], ["bernoulli", 1], ["categorical", 5]]
    assert results["train_rows"] + results["test_rows"] == 442
    lls = results["test_log_likelihood"]
    assert set(lls) == {
        "vae",
        "independent_columns",
        "gaussian_full_covariance_plus_independent_discrete",
    }
    assert all(math.isfinite(v) for v in lls.values())
    # A full-covariance Gaussian fits the standardized real columns better
    # than independent ones (they are correlated: s1 and s2 at r = 0.9).
    assert lls["gaussian_full_covariance_plus_independent_discrete"] > lls["independent_columns"]
    assert len(results["learned_scales"]) == 9
    assert "VAE, 10 importance samples" in stdout


def test_readme_names_the_command():
    readme = (ROOT / "examples" / "tabular_vae" / "README.md").read_text()
    assert "python examples/tabular_vae/train.py" in readme
