"""Helpers shared by the example scripts: command-line flags, data, image
grids and resumable phases.

Everything else the examples need comes from keras_vae itself (data,
including the data dir: `keras_vae.datasets.load` reads `--data-dir`, else
`KERAS_VAE_DATA_DIR` / `TFDS_DATA_DIR`). An example imports this module
with

```python
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/
import example_utils
```
"""

import time
from pathlib import Path

import keras
import numpy as np

import keras_vae

DATA_DIR_HELP = "prepared TFDS data dir (default: KERAS_VAE_DATA_DIR, then TFDS_DATA_DIR)"
BACKUP_DIR_HELP = "keras.callbacks.BackupAndRestore dir (resumable run)"


def add_training_arguments(parser, epochs, batch_size, lr, epochs_help="training epochs"):
    """Add `--epochs`, `--batch-size` and `--lr` (of Adam) with these defaults."""
    add = parser.add_argument
    add("--epochs", type=int, default=epochs, help=f"{epochs_help} ({epochs})")
    add("--batch-size", type=int, default=batch_size, help=f"training batch size ({batch_size})")
    add("--lr", type=float, default=lr, help=f"Adam learning rate ({lr:g})")


def add_run_arguments(
    parser,
    out_dir=None,
    out_dir_help=None,
    data_dir_help=DATA_DIR_HELP,
    backup_dir_help=BACKUP_DIR_HELP,
    steps_per_execution=1,
):
    """Add the flags of a run: data and output dirs, seed, resumption, smoke size.

    Adds `--data-dir`, `--out-dir` (default `out_dir`), `--backup-dir`
    (unless `backup_dir_help` is None), `--seed` (0), `--steps-per-execution`
    (unless `steps_per_execution` is None) and `--max-train-examples`.
    """
    add = parser.add_argument
    add("--data-dir", help=data_dir_help)
    add("--out-dir", default=out_dir, help=out_dir_help or f"output directory ({out_dir})")
    if backup_dir_help is not None:
        add("--backup-dir", help=backup_dir_help)
    add("--seed", type=int, default=0, help="random seed (0)")
    if steps_per_execution is not None:
        n = steps_per_execution
        add("--steps-per-execution", type=int, default=n, help=f"batches per compiled call ({n})")
    add("--max-train-examples", type=int, help="train on the first N (smoke tests)")


def add_nll_arguments(parser, samples, examples=None):
    """Add `--nll-samples` and `--nll-examples`, the flags of `score_nll`."""
    add = parser.add_argument
    add("--nll-samples", type=int, default=samples, help=f"importance samples ({samples})")
    add(
        "--nll-examples",
        type=int,
        default=examples,
        help=f"score the first N test images ({examples or 'all'})",
    )


def require_positive(parser, args, names):
    """Exit with a usage error unless every flag in `names` is at least 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")


def load_split(args, name, split, **kwargs):
    """`keras_vae.datasets.load(name, split)` as numpy, from `args.data_dir`.

    Downloads only if `args` has a true `download` (a `--download` flag).
    """
    download = getattr(args, "download", False)
    return keras_vae.datasets.load(
        name, split, data_dir=args.data_dir, download=download, as_numpy=True, **kwargs
    )


def score_nll(model, x_test, args, **kwargs):
    """`keras_vae.diagnostics.log_likelihood` at `--nll-samples`/`--nll-examples`."""
    return keras_vae.diagnostics.log_likelihood(
        model,
        x_test,
        num_importance_samples=args.nll_samples,
        max_examples=args.nll_examples,
        **kwargs,
    )


def tile(images, cols, pad=1, background=0.3):
    """Arrange images in a grid of `cols` columns, row by row.

    Args:
        images: array of shape `(n, H, W)` or `(n, H, W, 1)`, or a nested
            grid `(rows, cols, H, W[, 1])`, values in [0, 1].
        cols: images per row (ignored for a nested grid).
        pad: pixels between neighbouring images.
        background: value of the padding and of empty cells.

    Returns:
        A 2-D `float32` array.
    """
    images = np.asarray(images, dtype="float32")
    if images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 4:  # (rows, cols, H, W)
        cols = images.shape[1]
        images = images.reshape((-1,) + images.shape[2:])
    n, h, w = images.shape
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), background, "float32")
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return grid


def save_grid(path, images, cols=10, title=None, cmap="gray_r"):
    """Write `tile(images, cols)` as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.clip(tile(images, cols), 0.0, 1.0)
    height = 6.0 * grid.shape[0] / grid.shape[1] + (0.4 if title else 0.0)
    fig, ax = plt.subplots(figsize=(6.0, height))
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def fit_phase(model, x, name, backup_dir=None, finished=None, history=None,
              callbacks=(), **fit_kwargs):  # fmt: skip
    """One resumable `model.fit`; returns the seconds it trained in this call.

    A phase whose `finished` weights file exists is loaded from it instead
    of trained (it prints "phase NAME already finished: loading PATH"), so
    a rerun of a script skips the phases that completed. A phase killed
    mid-way resumes at its last epoch from `backup_dir`
    (`keras.callbacks.BackupAndRestore`, which deletes its directory when
    `fit` ends: hence the separate `finished` file).

    Args:
        model: a compiled, built `keras.Model`.
        x: the training data.
        name: the phase's name, for the message.
        backup_dir: `BackupAndRestore` directory, or `None`.
        finished: path of the weights file written when the phase ends.
            Defaults to `<backup_dir>/finished.weights.h5`, or, without a
            `backup_dir`, to none (the phase always trains).
        history: a CSV file the epochs' logs are appended to, or `None`.
        callbacks: further callbacks, run before the logger and the backup.
        **fit_kwargs: passed to `model.fit` (epochs, batch_size, ...);
            `shuffle=True` and `verbose=2` unless given.
    """
    if finished is None and backup_dir is not None:
        finished = Path(backup_dir, "finished.weights.h5")
    fit_kwargs = {"shuffle": True, "verbose": 2, **fit_kwargs}
    if finished is not None and Path(finished).exists():
        print(f"phase {name!r} already finished: loading {finished}")
        model.load_weights(finished)
        return 0.0
    callbacks = list(callbacks)
    if history is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(history), append=True))
    if backup_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir)))
    start = time.perf_counter()
    model.fit(x, callbacks=callbacks, **fit_kwargs)
    seconds = time.perf_counter() - start
    if finished is not None:
        Path(finished).parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(finished)
    return seconds
