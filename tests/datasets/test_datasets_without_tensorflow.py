"""`keras_vae.datasets` where TensorFlow is not installed (a JAX-only machine).

A subprocess under `KERAS_BACKEND=jax` whose imports of TensorFlow (and
TFDS) fail as on a machine without them: numpy loads of the digits and of
MNIST's IDX files work, with labels; a stream raises an `ImportError` that
names TensorFlow and the numpy alternative; TensorFlow is never imported.
"""

import importlib.util
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_vae.testing.scripts import script_env

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = ("tensorflow", "tensorflow_datasets")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Block())

    import numpy as np
    import keras_vae

    load, data_dir = keras_vae.datasets.load, sys.argv[1]
    x, y = load("digits", "test", as_numpy=True, labels=True)
    assert x.shape == (300, 8, 8, 1) and y.shape == (300,), (x.shape, y.shape)
    x, y = load("mnist", "test", data_dir=data_dir, as_numpy=True, labels=True)
    np.testing.assert_array_equal(y, np.load(sys.argv[2]))
    assert x.shape == (10000, 28, 28, 1)
    try:
        load("digits", "train", batch_size=32)
    except ImportError as error:
        print("STREAM:", error)
    imported = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
    assert not imported, imported
    print("OK")
    """
)


def idx_bytes(array):
    """IDX bytes of a uint8 array: magic 0x00 0x00 0x08 ndim, sizes, values."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.tobytes()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_numpy_loads_without_tensorflow(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10000).astype(np.uint8)
    files = {
        "train-images-idx3-ubyte": np.zeros((60000, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.zeros(60000, np.uint8),
        "t10k-images-idx3-ubyte": np.zeros((10000, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": labels,
    }
    for stem, array in files.items():  # uncompressed: fast to write
        (tmp_path / stem).write_bytes(idx_bytes(array))
    np.save(tmp_path / "labels.npy", labels)
    env = dict(script_env(), KERAS_BACKEND="jax")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(tmp_path / "labels.npy")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("OK"), run.stdout
    stream_error = next(line for line in run.stdout.splitlines() if line.startswith("STREAM:"))
    assert "needs TensorFlow" in stream_error and "as_numpy=True" in stream_error
