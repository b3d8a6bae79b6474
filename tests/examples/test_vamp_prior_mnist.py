"""examples/vamp_prior_mnist: tiny end-to-end runs on the real binarized MNIST.

Each run is `python examples/vamp_prior_mnist/train.py ...` in a fresh
interpreter with a tiny budget (300 training images, 2 epochs, small
networks), about 30-40 s on two CPU cores, most of it importing TensorFlow and
XLA compilation. They skip when no prepared TFDS `binarized_mnist` is found.
"""

import csv
import importlib.util
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from keras_vae.testing import prepared_tfds_dir
from keras_vae.testing import requires_tfds
from keras_vae.testing import run_script

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "vamp_prior_mnist"
PNG = b"\x89PNG\r\n\x1a\n"
TINY = (
    "--max-train-examples",
    "300",
    "--epochs",
    "2",
    "--warmup",
    "1",
    "--components",
    "10",
    "--hidden-units",
    "16",
    "--latent-dim",
    "4",
    "--nll-samples",
    "10",
    "--nll-examples",
    "20",
    "--patience",
    "5",
    # 30 steps at a high rate: enough to beat an untrained model clearly.
    "--batch-size",
    "20",
    "--lr",
    "3e-3",
)
# An untrained decoder outputs p ~ 0.5 per pixel: 784 log 2 = 543 nats (an
# untrained model measured 559 nats of NLL and -635 of ELBO on this budget's
# data; the trained tiny runs about 450 and -454).
COIN_FLIP_NATS = 784 * math.log(2.0)


DATA_DIR = prepared_tfds_dir("binarized_mnist")
needs_data = requires_tfds("binarized_mnist")


def run_example(tmp_path, *args):
    """Run the example; return (stdout, results.json, out dir)."""
    out = tmp_path / "out"
    stdout = run_script(
        EXAMPLE / "train.py", *TINY, *args, "--data-dir", DATA_DIR, "--out-dir", out,
        cwd=tmp_path,
    )  # fmt: skip
    return stdout, json.loads((out / "results.json").read_text()), out


def check_common(stdout, results, out, model, prior):
    assert (results["model"], results["prior"], results["objective"]) == (
        model,
        prior,
        "elbo",
    )
    assert results["args"]["components"] == 10 and results["args"]["seed"] == 0
    assert results["epochs_run"] == 2 and results["best_epoch"] in (1, 2)
    assert (results["nll_samples"], results["nll_examples"]) == (10, 20)
    nll = results["test_nll"]
    # Clearly better than the untrained baseline, and the two bounds agree:
    # ELBO <= log p(x) ~ -NLL on test data (20 images vs the whole test set,
    # so a few nats of slack).
    assert math.isfinite(nll) and 100 < nll < COIN_FLIP_NATS - 50, nll
    for key in ("best_val_elbo", "test_elbo"):
        assert -COIN_FLIP_NATS + 50 < results[key] < -nll + 10, (key, results[key], nll)
    assert results["train_seconds"] > 0 and results["keras_vae_version"]
    # The last line is the result, the same number as results.json.
    match = re.fullmatch(
        r"test NLL: ([0-9.]+) nats \(10 importance samples, " r"20 test images\)",
        stdout.strip().splitlines()[-1],
    )
    assert match and float(match.group(1)) == pytest.approx(nll, abs=0.006), stdout
    for png in ("samples.png", "reconstructions.png", "pseudo_inputs.png"):
        assert (out / png).read_bytes()[:8] == PNG, png
    with open(out / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in history] == [0, 1]
    best = max(float(r["val_elbo"]) for r in history)
    assert results["best_val_elbo"] == pytest.approx(best, rel=1e-6)
    assert (out / "best.weights.h5").is_file()
    return history


@needs_data
def test_hvae_vamp_prior_end_to_end(tmp_path):
    stdout, results, out = run_example(
        tmp_path,
        "--model",
        "hvae",
        "--prior",
        "vamp",
        "--curve-every",
        "1",
        "--curve-samples",
        "5",
        "--curve-examples",
        "10",
    )
    history = check_common(stdout, results, out, "hvae", "vamp")
    units = results["active_units"]
    assert set(units) == {"z1", "z2"} and all(0 <= n <= 4 for n in units.values())
    # Trainable pseudo-inputs moved (beta = 1 in epoch 2 gives them gradients).
    assert results["pseudo_inputs_max_abs_change"] > 0
    assert np.load(out / "pseudo_inputs.npy").shape == (10, 28, 28, 1)
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [p["epoch"] for p in curve] == [1, 2]
    for point, row in zip(curve, history):
        assert math.isfinite(point["nll"]) and point["nll"] > 0
        assert point["val_elbo"] == pytest.approx(float(row["val_elbo"]), rel=1e-6)
        assert point["seconds"] == pytest.approx(float(row["seconds"]))
    # Killed while scoring (after `fit` ended and deleted any backup): the
    # same command scores the best weights again instead of training afresh.
    trained = json.loads((out / "trained.json").read_text())
    assert trained.pop("training_args")["model"] == "hvae"
    assert trained == {k: results[k] for k in trained}
    history_text = (out / "history.csv").read_text()
    (out / "results.json").unlink()
    stdout, again, _ = run_example(tmp_path, "--model", "hvae", "--prior", "vamp")
    assert "training finished earlier" in stdout and "Epoch 1/" not in stdout
    assert (out / "history.csv").read_text() == history_text
    assert {k: again[k] for k in trained} == trained
    assert again["active_units"] == units
    # Other training flags into the same --out-dir: refused, nothing cleared.
    with pytest.raises(AssertionError, match="other training flags"):
        run_example(tmp_path, "--model", "hvae", "--prior", "vamp", "--seed", "1")
    assert (out / "history.csv").read_text() == history_text


@needs_data
@pytest.mark.large  # slow; the file's other end-to-end test runs by default
def test_vae_vamp_prior_data_keeps_its_training_images(tmp_path):
    import keras_vae

    stdout, results, out = run_example(tmp_path, "--model", "vae", "--prior", "vamp_data")
    check_common(stdout, results, out, "vae", "vamp_data")
    assert set(results["active_units"]) == {"z"}
    assert not (out / "curve.jsonl").exists()  # --curve-every defaults to 0
    # The pseudo-inputs are the recorded training images, unchanged by training.
    assert results["pseudo_inputs_max_abs_change"] == 0.0
    indices = results["pseudo_input_train_indices"]
    assert len(set(indices)) == 10 and all(0 <= i < 300 for i in indices)
    x_train = keras_vae.datasets.load(
        "binarized_mnist", "train", data_dir=DATA_DIR, download=False, as_numpy=True
    )
    np.testing.assert_array_equal(np.load(out / "pseudo_inputs.npy"), x_train[indices])


class _StubModel:
    def __init__(self):
        self.stop_training, self.loaded = False, []

    def save_weights(self, path):
        Path(path).write_text("weights")

    def load_weights(self, path):
        self.loaded.append(path)


def test_early_stopping_resumes_from_history(tmp_path):
    spec = importlib.util.spec_from_file_location("vamp_prior_mnist_train", EXAMPLE / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    history, weights = tmp_path / "history.csv", tmp_path / "best.weights.h5"
    # A killed run: epochs 0-2 logged (best at epoch 1), and epoch 3 logged
    # but not backed up, so it is run again and must be ignored.
    history.write_text("epoch,val_elbo\n0,-100\n1,-90\n2,-95\n3,-80\n")
    weights.write_text("best of epoch 1")
    stopper = train.EarlyStoppingToFile("val_elbo", 3, str(weights), str(history))
    model = _StubModel()
    stopper.set_model(model)
    stopper.on_epoch_begin(3)
    assert (stopper.best, stopper.best_epoch) == (-90.0, 1)
    stopper.on_epoch_end(3, {"val_elbo": -92.0})
    assert not model.stop_training  # 2 epochs without improvement
    stopper.on_epoch_begin(4)
    stopper.on_epoch_end(4, {"val_elbo": -91.0})
    assert model.stop_training  # 3 = patience
    stopper.on_train_end()
    assert weights.read_text() == "best of epoch 1" and model.loaded == [str(weights)]
    # An improvement saves the weights and resets the count.
    model.stop_training = False
    stopper.on_epoch_end(5, {"val_elbo": -50.0})
    assert (stopper.best, stopper.best_epoch) == (-50.0, 5)
    assert weights.read_text() == "weights" and not model.stop_training


def test_readme_gives_a_command_for_every_row():
    readme = (EXAMPLE / "README.md").read_text()
    doc = (EXAMPLE / "train.py").read_text()
    for model, prior in [
        ("vae", "standard"),
        ("vae", "mog"),
        ("vae", "vamp_data"),
        ("vae", "vamp"),
        ("hvae", "standard"),
        ("hvae", "mog"),
        ("hvae", "vamp_data"),
        ("hvae", "vamp"),
        ("convhvae", "vamp"),
    ]:
        command = f"python examples/vamp_prior_mnist/train.py --model {model} --prior {prior}"
        assert command in readme and command in doc, command
