"""`model.export(path)`, Keras's own SavedModel export, on keras_vae models.

Keras infers a subclassed model's input signature from its first call, and
training never calls the model, so `export` right after `fit` failed with
"The model provided has never called". `Autoencoder.export` takes the
signature from the built data shape. The artifact is reloaded with
`tf.saved_model.load` in a child process that does not import keras_vae
(one child for every artifact), and its `serve` endpoint must return what
the model's `call` (and `predict`) returns: the deterministic reconstruction.
"""

import json
import sys

import numpy as np
import pytest

from keras_vae.models import VAE
from keras_vae.models import VQVAE
from keras_vae.models import HierarchicalVAE
from keras_vae.testing.scripts import run_command
from keras_vae.testing.scripts import script_env

X = (np.random.default_rng(0).uniform(size=(64, 8, 8, 1)) < 0.3).astype("float32")
BATCH = X[:5]

MODELS = {
    "VAE": lambda: VAE(latent_dim=4, hidden_units=(32,), seed=1),
    "HierarchicalVAE": lambda: HierarchicalVAE(latent_dims=(3, 2), hidden_units=8, seed=1),
    "VQVAE": lambda: VQVAE(
        num_embeddings=6,
        embedding_dim=3,
        filters=4,
        residual_units=2,
        num_residual_blocks=1,
        num_downsamples=1,
        seed=1,
    ),
}
# (model, how it got built): after `fit` (the bug's path), and after
# `build()` only (as fast, and it failed the same way).
CASES = [("VAE", "fit"), ("VAE", "build"), ("HierarchicalVAE", "build"), ("VQVAE", "build")]

CHILD = """
import json, sys
import numpy as np
import tensorflow as tf
cases = json.loads(sys.argv[1])
batch = tf.constant(np.load(sys.argv[2]))
outputs = {}
for key, path in cases.items():
    artifact = tf.saved_model.load(path)
    outputs[key] = artifact.serve(batch).numpy()
np.savez(sys.argv[3], **outputs)
print("RESULT " + json.dumps({"keras_vae": "keras_vae" in sys.modules}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`{case: (expected, served)}` for every case, served by one child."""
    base = tmp_path_factory.mktemp("keras_export")
    paths, expected = {}, {}
    for name, how in CASES:
        model = MODELS[name]()
        if how == "fit":
            # Without XLA: the export does not depend on it, and it is faster.
            model.compile(optimizer="adam", jit_compile=False)
            model.fit(X, epochs=1, batch_size=32, verbose=0)
        else:
            model.build((None,) + X.shape[1:])
        key = f"{name}-{how}"
        paths[key] = str(base / key)
        model.export(paths[key], verbose=False)
        # What `serve` runs.
        expected[key] = np.asarray(model(BATCH, training=False))
    np.save(base / "batch.npy", BATCH)
    out = run_command(
        [
            sys.executable,
            "-c",
            CHILD,
            json.dumps(paths),
            str(base / "batch.npy"),
            str(base / "out.npz"),
        ],
        "tf.saved_model.load child",
        env=script_env(),
        timeout=300,
    )
    result = json.loads(out.split("RESULT ", 1)[1])
    assert result == {"keras_vae": False}, out
    served = np.load(base / "out.npz")
    return {key: (expected[key], served[key]) for key in paths}


@pytest.mark.parametrize("name, how", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_export_serves_the_models_call(served, name, how):
    expected, actual = served[f"{name}-{how}"]
    assert actual.shape == expected.shape == BATCH.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_export_of_an_unbuilt_model_fails_first(tmp_path):
    model = VAE(latent_dim=4, hidden_units=(32,))
    with pytest.raises(ValueError, match="not built"):
        model.export(str(tmp_path / "vae"))
    assert not (tmp_path / "vae").exists()
