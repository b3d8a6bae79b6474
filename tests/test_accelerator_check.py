"""`benchmarks/accelerator_check.py` runs end to end on CPU (`--tiny`).

The script is for a GPU machine with JAX and without TensorFlow. Here it
runs at its tiny sizes under `KERAS_BACKEND=jax` in a child process where
importing TensorFlow fails, as there (keras_vae then feeds `fit` without
`tf.data`), and must exit 0 and write finite figures. A failing family must
give a non-zero exit status.
"""

import json
import math
import os
import subprocess
import sys

import keras
import pytest

from keras_vae.testing.scripts import script_env

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "benchmarks",
    "accelerator_check.py",
)

# The child: TensorFlow and its satellites cannot be imported, then the
# script runs as `__main__` with its own folder on the path (as `python
# script.py` would put it).
CHILD = """
import importlib.abc, os, runpy, sys
BLOCKED = ("tensorflow", "tensorflow_datasets", "tensorflow_probability", "tf_keras", "tensorboard")
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, NoTensorFlow())
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the accelerator check targets Keras's JAX backend; it runs in the JAX test run",
)


def run_check(tmp_path, *flags):
    """`(exit status, output, JSON report)` of a `--tiny` run with `flags`."""
    out = tmp_path / "check.json"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, SCRIPT, "--tiny", "--out", str(out), *flags],
        env=dict(script_env(), KERAS_BACKEND="jax"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.exists(), output
    return proc.returncode, output, json.loads(out.read_text())


def finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_tiny_run_passes_with_finite_figures(tmp_path):
    status, output, report = run_check(
        tmp_path, "--models", "vae", "--oracles", "vae_exact,vae_perturbed"
    )
    assert status == 0, output
    assert report["ok"] and report["failures"] == []
    env = report["environment"]
    assert env["backend"] == "jax" and env["devices"] and "jax" in env
    assert report["tensorflow_imported"] is False

    vae = report["train"]["vae"]
    assert vae["ok"] and vae["finite"]
    assert finite(vae["examples_per_s"]) and vae["examples_per_s"] > 0
    assert vae["check_values"][-1] < vae["check_values"][0]

    for name in ("vae_exact", "vae_perturbed"):
        oracle = report["oracle"][name]
        assert oracle["ok"], oracle
        assert finite(oracle["mean_error"]) and finite(oracle["max_abs_error"])
        assert oracle["tolerance"]

    ll = report["log_likelihood"]
    assert ll["ok"] and ll["examples"] > 0 and ll["samples"] > 0
    for key in ("wall_s", "examples_per_s", "seconds_for_10k_x_5000", "nll"):
        assert finite(ll[key]), (key, ll)
    assert finite(report["total_s"])


def test_failing_family_exits_non_zero(tmp_path):
    # PixelCNN trains on a VQ-VAE's codes: alone, it fails before compiling.
    status, output, report = run_check(tmp_path, "--models", "pixelcnn", "--oracles", "")
    assert status == 1, output
    assert not report["ok"]
    assert report["failures"] and report["failures"][0].startswith("train pixelcnn")
    assert report["train"]["pixelcnn"]["ok"] is False


@pytest.mark.large
def test_tiny_run_of_every_family_and_oracle(tmp_path):
    status, output, report = run_check(tmp_path)
    assert status == 0, output
    assert set(report["train"]) == {
        "vae", "iwae", "vamp", "hvae", "lvae", "vqvae", "pixelcnn", "vhpvae",
    }  # fmt: skip
    assert all(r["ok"] and finite(r["examples_per_s"]) for r in report["train"].values())
    assert len(report["oracle"]) == 5 and all(r["ok"] for r in report["oracle"].values())
