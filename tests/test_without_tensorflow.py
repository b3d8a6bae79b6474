"""keras_vae imports, trains, evaluates and saves on JAX without TensorFlow.

`without_tensorflow_check.py` runs in a child process (`KERAS_BACKEND=jax`)
where importing `tensorflow`, `tensorflow_datasets`,
`tensorflow_probability`, `tf_keras` or `tensorboard` fails, as on a machine
with JAX only. The check fails if any keras_vae module imported on that path
imports TensorFlow, and TensorFlow-only features must fail with an
`ImportError` that says to install TensorFlow.
"""

import json
import os
import sys

import keras
import pytest

from keras_vae.testing.scripts import run_command
from keras_vae.testing.scripts import script_env

CHECK_SCRIPT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "without_tensorflow_check.py"
)


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="runs in the JAX test run (the check's child process uses KERAS_BACKEND=jax)",
)
def test_jax_path_imports_no_tensorflow():
    stdout = run_command(
        [sys.executable, CHECK_SCRIPT],
        "without_tensorflow_check.py",
        env=dict(script_env(), KERAS_BACKEND="jax"),
        timeout=300,
    )
    line = [line for line in stdout.splitlines() if line.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["imported"] == []
    assert result["epochs"] == 2
    assert result["log_likelihood_finite"]
    assert set(result["errors"]) == {"export", "image_grid", "bernoulli_distribution"}
