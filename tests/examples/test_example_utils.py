"""examples/example_utils.py: shared flags, image grids and resumable `fit` phases."""

import argparse
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import example_utils  # noqa: E402


def test_tile_places_images_row_by_row_with_padding():
    images = np.arange(3 * 2 * 2, dtype="float32").reshape(3, 2, 2, 1) / 12.0
    grid = example_utils.tile(images, cols=2, pad=1, background=-1.0)
    assert grid.shape == (2 * 2 + 1, 2 * 2 + 1)
    np.testing.assert_array_equal(grid[0:2, 0:2], images[0, ..., 0])
    np.testing.assert_array_equal(grid[0:2, 3:5], images[1, ..., 0])
    np.testing.assert_array_equal(grid[3:5, 0:2], images[2, ..., 0])
    # Padding and the empty fourth cell hold the background.
    assert np.all(grid[2] == -1.0) and np.all(grid[:, 2] == -1.0)
    assert np.all(grid[3:5, 3:5] == -1.0)
    # A nested (rows, cols, H, W) grid keeps its own column count.
    nested = example_utils.tile(images[:2].reshape(1, 2, 2, 2), cols=7, pad=0)
    np.testing.assert_array_equal(nested, np.hstack([images[0, ..., 0], images[1, ..., 0]]))


def test_save_grid_writes_a_png(tmp_path):
    path = tmp_path / "grid.png"
    example_utils.save_grid(path, np.random.rand(5, 4, 4), cols=3, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_fit_phase_trains_once_then_loads(tmp_path, capsys):
    x, y = np.random.rand(32, 3), np.random.rand(32, 1)
    backup, history = tmp_path / "backup" / "phase", tmp_path / "history.csv"
    model = tiny_model()
    before = model.get_weights()
    seconds = example_utils.fit_phase(
        model, x, "phase", backup, history=history, y=y, epochs=2, batch_size=8
    )
    assert seconds > 0
    assert not any(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    finished = backup / "finished.weights.h5"
    assert finished.exists()
    assert len(history.read_text().splitlines()) == 3  # header + 2 epochs

    again = tiny_model()
    seconds = example_utils.fit_phase(
        again, x, "phase", backup, history=history, y=y, epochs=2, batch_size=8
    )
    assert seconds == 0.0
    assert f"phase 'phase' already finished: loading {finished}" in capsys.readouterr().out
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(history.read_text().splitlines()) == 3  # nothing trained


def test_fit_phase_without_backup_always_trains(tmp_path):
    x, y = np.random.rand(16, 3), np.random.rand(16, 1)
    model = tiny_model()
    for _ in range(2):
        assert example_utils.fit_phase(model, x, "p", y=y, epochs=1, verbose=0) > 0
    assert list(tmp_path.iterdir()) == []


def test_shared_flags_parse_with_their_defaults_and_are_checked():
    parser = argparse.ArgumentParser()
    example_utils.add_training_arguments(parser, 7, 32, 1e-3)
    example_utils.add_nll_arguments(parser, 100)
    example_utils.add_run_arguments(parser, "out", backup_dir_help=None, steps_per_execution=5)
    args = parser.parse_args(["--data-dir", "d", "--max-train-examples", "9"])
    assert (args.epochs, args.batch_size, args.lr) == (7, 32, 1e-3)
    assert (args.nll_samples, args.nll_examples) == (100, None)
    assert (args.data_dir, args.out_dir, args.seed, args.steps_per_execution) == ("d", "out", 0, 5)
    assert args.max_train_examples == 9 and not hasattr(args, "backup_dir")
    example_utils.require_positive(parser, args, ("epochs", "batch_size"))
    args.batch_size = 0
    with pytest.raises(SystemExit):
        example_utils.require_positive(parser, args, ("epochs", "batch_size"))
