"""examples/vhp_vae: a tiny end-to-end run on the real MNIST and Frey Faces.

`train.py` runs in a fresh interpreter with a tiny budget (512 training
images, small networks, one epoch). Skips when no raw data directory
(`KERAS_VAE_RAW_DATA_DIR`, see `tests/conftest.py`) holds the files.
"""

import json
from pathlib import Path

import pytest

from keras_vae.testing import run_script
from keras_vae.testing.real_data import raw_data_dir
from keras_vae.testing.real_data import requires_data

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "vhp_vae" / "train.py"
DATA = raw_data_dir()
PNG = b"\x89PNG\r\n\x1a\n"
TINY = (
    "--max-train-examples", "512",
    "--epochs", "1",
    "--hidden-units", "16",
    "--latent-dim", "4",
    "--prior-samples", "2",
    "--iwae-samples", "2",
    "--nll-samples", "10",
    "--nll-examples", "50",
    "--data-dir", str(DATA),
)  # fmt: skip


def needs(*parts):
    return requires_data(
        DATA is not None and DATA.joinpath(*parts).exists(),
        reason=f"no {Path(*parts)} under KERAS_VAE_RAW_DATA_DIR={DATA}",
    )


@needs("mnist", "train-images-idx3-ubyte.gz")
@pytest.mark.large  # slow; the file's other end-to-end test runs by default
def test_mnist_compares_three_models(tmp_path):
    out = tmp_path / "run"
    stdout = run_script(SCRIPT, *TINY, "--out-dir", str(out), cwd=tmp_path)
    results = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in results] == ["vhp", "vae", "iwae"]
    vhp = results[0]
    assert vhp["kappa_squared"] == pytest.approx(75.0)
    assert vhp["constraint_ratio"] == pytest.approx(vhp["test_reconstruction_error"] / 75.0)
    for name in ("lambda.png", "latent.png", "interpolations.png", "samples.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    assert "| vhp |" in stdout and "| iwae |" in stdout


@needs("freyfaces", "freyfaces.npz")
def test_frey_faces_vhp_only(tmp_path):
    out = tmp_path / "frey"
    run_script(
        SCRIPT,
        *TINY,
        "--dataset",
        "freyfaces",
        "--models",
        "vhp",
        "--kappa",
        "4.0",
        "--out-dir",
        str(out),
        cwd=tmp_path,
    )
    (vhp,) = json.loads((out / "results.json").read_text())
    assert vhp["kappa_squared"] == pytest.approx(16.0)
    # With the Gaussian of scale 1/sqrt(2 pi), C = pi * squared error.
    assert vhp["test_reconstruction_error"] > 0
    assert (out / "lambda.png").read_bytes()[:8] == PNG


def test_bad_models_argument(tmp_path):
    with pytest.raises(AssertionError, match="--models"):
        run_script(SCRIPT, "--models", "vhp,gan", cwd=tmp_path)
