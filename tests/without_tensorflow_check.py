"""keras_vae on JAX in a process where TensorFlow cannot be imported.

Run by `tests/test_without_tensorflow.py` with `KERAS_BACKEND=jax`. Before
Keras or keras_vae is imported, a `sys.meta_path` finder makes every import
of TensorFlow and its satellite packages fail as on a machine without them.
The script then imports keras_vae and its public subpackages, trains,
evaluates, saves and reloads two tiny models, checks that the TensorFlow-only
features fail with an error naming TensorFlow, and prints
`RESULT {json}` with the modules of those packages this process imported
(none expected).
"""

import importlib.abc
import json
import os
import sys
import tempfile

BLOCKED = ("tensorflow", "tensorflow_datasets", "tensorflow_probability", "tf_keras", "tensorboard")


class NoTensorFlow(importlib.abc.MetaPathFinder):
    """Fails the import of the blocked packages and their submodules."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, NoTensorFlow())

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402
import keras_vae.testing  # noqa: E402

assert keras.backend.backend() == "jax", keras.backend.backend()
for name in keras_vae.__all__:
    getattr(keras_vae, name)  # every public subpackage is imported


def expect_tensorflow_error(fn):
    """The message of the ImportError `fn()` raises, which must name TensorFlow."""
    try:
        fn()
    except ImportError as error:
        assert "pip install tensorflow" in str(error), str(error)
        return str(error)
    raise AssertionError(f"{fn} raised no ImportError without TensorFlow")


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = (rng.uniform(size=(96, 4, 4, 1)) < 0.5).astype("float32")
x_val = (rng.uniform(size=(32, 4, 4, 1)) < 0.5).astype("float32")
work = tempfile.mkdtemp()

# The main model: fit (arrays, validation, a callback), evaluate, predict,
# encode, sample, the log-likelihood estimate, and a .keras round trip.
vae = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
vae.compile(optimizer="adam")
history = vae.fit(
    x,
    validation_data=x_val,
    epochs=2,
    batch_size=32,
    verbose=0,
    callbacks=[keras_vae.callbacks.KLWarmUp(2)],
)
losses = history.history["loss"]
assert len(losses) == 2 and np.all(np.isfinite(losses)), history.history
metrics = vae.evaluate(x_val, batch_size=32, verbose=0, return_dict=True)
assert np.isfinite(metrics["loss"]), metrics
predicted = keras.ops.convert_to_numpy(vae.predict(x_val, batch_size=32, verbose=0))
assert predicted.shape == x_val.shape, predicted.shape
loc, scale = (keras.ops.convert_to_numpy(t) for t in vae.encode(x_val))
assert loc.shape == scale.shape == (32, 2), (loc.shape, scale.shape)
samples = keras.ops.convert_to_numpy(vae.sample(5))
assert samples.shape == (5, 4, 4, 1), samples.shape
log_px = keras_vae.diagnostics.log_likelihood(vae, x_val, num_importance_samples=8, batch_size=32)
path = os.path.join(work, "vae.keras")
vae.save(path)
loaded = keras.models.load_model(path)
np.testing.assert_allclose(
    keras.ops.convert_to_numpy(loaded.encode(x_val)[0]), loc, rtol=1e-5, atol=1e-6
)

# A second model, with two latent layers.
hvae = keras_vae.models.HierarchicalVAE(latent_dims=(3, 2), hidden_units=8, seed=0)
hvae.compile(optimizer="adam")
h_history = hvae.fit(x, epochs=1, batch_size=32, verbose=0)
assert np.all(np.isfinite(h_history.history["loss"])), h_history.history
reconstructed = keras.ops.convert_to_numpy(hvae.reconstruct(x_val))
assert reconstructed.shape == x_val.shape, reconstructed.shape

# TensorFlow-only features fail where they are used, naming what is needed.
errors = {
    "export": expect_tensorflow_error(
        lambda: keras_vae.export.export_for_serving(vae, os.path.join(work, "export"))
    ),
    "image_grid": expect_tensorflow_error(
        lambda: keras_vae.callbacks.ImageGrid(os.path.join(work, "grids"))
    ),
    "bernoulli_distribution": expect_tensorflow_error(
        lambda: keras_vae.likelihoods.Bernoulli().distribution(np.zeros((2, 3), "float32"))
    ),
}

imported = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(
    "RESULT "
    + json.dumps(
        {
            "imported": imported,
            "epochs": len(losses),
            "log_likelihood_finite": bool(np.all(np.isfinite(log_px.log_likelihood))),
            "errors": errors,
        }
    )
)
