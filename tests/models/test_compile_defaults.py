"""`Autoencoder.compile`'s defaults, and a saved model loaded in a fresh process.

Keras skips `compile_from_config` for models that override `compile`, so
without the override a loaded model has no optimizer; the user's path is
`keras.models.load_model` in a new interpreter, checked here.
"""

import json
import sys

import keras
import numpy as np

from keras_vae.models import VAE
from keras_vae.testing.scripts import run_command
from keras_vae.testing.scripts import script_env

X = (np.random.default_rng(0).random((64, 12)) > 0.5).astype("float32")


def _model():
    return VAE(latent_dim=2, hidden_units=(8,), seed=0)


def test_defaults_on_one_replica_and_explicit_values_win():
    model = _model()
    model.compile(optimizer="adam")
    assert (model.jit_compile, model.steps_per_execution) == (True, 25)
    model = _model()
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=3)
    assert (model.jit_compile, model.steps_per_execution) == (False, 3)
    model = _model()
    model.compile(optimizer="adam", run_eagerly=True)
    assert (model.jit_compile, model.run_eagerly) == (False, True)


CHILD = """
import json, sys
import keras, numpy as np
import keras_vae  # registers the classes, as a user's script would
model = keras.models.load_model(sys.argv[1])
x = np.load(sys.argv[2])
before = int(model.optimizer.iterations.numpy())
model.fit(x, epochs=1, batch_size=32, verbose=0)
print("RESULT " + json.dumps({
    "jit_compile": bool(model.jit_compile),
    "steps_per_execution": model.steps_per_execution,
    "iterations": [before, int(model.optimizer.iterations.numpy())],
}))
"""


def test_load_model_in_a_fresh_process_keeps_the_compile(tmp_path):
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(X, epochs=1, batch_size=32, verbose=0)
    path, data = str(tmp_path / "vae.keras"), str(tmp_path / "x.npy")
    model.save(path)
    np.save(data, X)
    out = run_command(
        [sys.executable, "-c", CHILD, path, data], "load_model child", env=script_env()
    )
    line = [row for row in out.splitlines() if row.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["jit_compile"] is True
    assert result["steps_per_execution"] == 25
    # The optimizer state came back (2 steps done) and training continues.
    assert result["iterations"] == [2, 4]
