"""Helpers shared by the example scripts: image grids and resumable phases.

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
