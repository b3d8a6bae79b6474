"""`.keras` files cross backends, and a JAX-trained model serves.

A model saved under one Keras backend is loaded under the other (each in a
fresh interpreter: the backend is fixed at import), gives the same encoding,
and trains on there; a model trained on JAX, loaded under TensorFlow and
exported with `keras_vae.export.export_for_serving`, serves in TF Serving's
session loader, in a process that never imports keras_vae.
"""

import subprocess
import sys

import numpy as np
import pytest

from keras_vae.testing.scripts import script_env
from keras_vae.testing.serving import Call
from keras_vae.testing.serving import run_in_session

TRAIN = """
import sys
import numpy as np, keras, keras_vae
path, out = sys.argv[1:3]
x = np.load(out + "/x.npy")
model = keras_vae.models.VAE(latent_dim=3, hidden_units=(16,), seed=4)
model.compile(optimizer="adam")
model.fit(x, batch_size=50, epochs=2, verbose=0)
model.save(path)
np.save(out + "/saved_encoding.npy", model.encode(x)[0])
"""

LOAD = """
import sys
import numpy as np, keras, keras_vae
path, out = sys.argv[1:3]
x = np.load(out + "/x.npy")
model = keras.models.load_model(path)
np.save(out + "/loaded_encoding.npy", model.encode(x)[0])
before = [np.array(w) for w in model.trainable_weights]
history = model.fit(x, batch_size=50, epochs=1, verbose=0)
np.save(out + "/losses.npy", np.asarray(history.history["loss"]))
moved = [not np.array_equal(a, np.array(b)) for a, b in zip(before, model.trainable_weights)]
np.save(out + "/moved.npy", np.asarray(moved))
if keras.backend.backend() == "tensorflow":
    path = keras_vae.export.export_for_serving(model, out + "/export")
    open(out + "/export_path.txt", "w").write(str(path))
    np.save(out + "/reconstruction.npy", model.reconstruct(x))
"""


def _run(backend, script, *args):
    env = dict(script_env(), KERAS_BACKEND=backend)
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.parametrize("saved, loaded", [("jax", "tensorflow"), ("tensorflow", "jax")])
def test_a_keras_file_crosses_backends(tmp_path, saved, loaded):
    x = (np.random.default_rng(0).random((200, 12)) < 0.4).astype("float32")
    np.save(tmp_path / "x.npy", x)
    path = tmp_path / "model.keras"
    _run(saved, TRAIN, path, tmp_path)
    _run(loaded, LOAD, path, tmp_path)

    np.testing.assert_allclose(
        np.load(tmp_path / "loaded_encoding.npy"),
        np.load(tmp_path / "saved_encoding.npy"),
        rtol=1e-5,
        atol=1e-6,
    )
    losses = np.load(tmp_path / "losses.npy")
    assert np.all(np.isfinite(losses)), losses
    assert np.all(np.load(tmp_path / "moved.npy")), "training on must move every trainable weight"
    if loaded == "tensorflow":
        calls = [Call("reconstruct", "reconstruct", {"x": x})]
        results, imported = run_in_session(
            {"vae": ((tmp_path / "export_path.txt").read_text(), calls)}, tmp_path / "s"
        )
        assert "load_error" not in results["vae"], results["vae"]["load_error"]
        assert isinstance(results["vae"]["reconstruct"], dict), results["vae"]["reconstruct"]
        assert not [m for m in imported if m.startswith("keras_vae")], imported
        np.testing.assert_allclose(
            results["vae"]["reconstruct"]["mean"],
            np.load(tmp_path / "reconstruction.npy"),
            rtol=1e-5,
            atol=1e-6,
        )
