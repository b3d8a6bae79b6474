"""User subclasses of the model bases round-trip their config and `.keras` files.

The contract bases (`Autoencoder`, `LatentVariableModel`) take arguments a
subclass may fix itself (`objective`, `metric_names`, `dynamic_binarization`):
the config must leave those out, or `from_config`, `clone_model` and
`load_model` pass them twice (`TypeError: ... got multiple values for keyword
argument 'objective'`), and a `ModelCheckpoint` writes files that cannot be
loaded. Three user-style models, each on the consumer's path (a short `fit`,
then a reload in a fresh Python process):

- `IWAE` of `examples/custom_model`: a `LatentVariableModel` subclass that
  fixes `objective` and `metric_names` and names `beta` and `seed`;
- `PassThrough`: a `LatentVariableModel` subclass that fixes
  `dynamic_binarization` and takes everything else (`objective`,
  `metric_names`, `beta`, `seed`) through `**kwargs`;
- `PenalizedVAE`: a `keras_vae.models.VAE` subclass adding one argument
  (the `VAE` arguments it forwards stay in its config) and one logged term
  (`metric_names`, fixed by the subclass).
"""

import importlib
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_vae.testing import run_model_test
from keras_vae.testing import run_script

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "custom_model"

# The user's module: importable by name in the child process too.
USER_MODULE = "subclass_config_user_models"
USER_SOURCE = '''
import keras
from keras import ops

import keras_vae


@keras.saving.register_keras_serializable(package="subclass_config_test")
class PassThrough(keras_vae.models.LatentVariableModel):
    """A Gaussian-latent MLP with an analytic KL; binarizes every batch."""

    def __init__(self, latent_dim=2, units=8, **kwargs):
        super().__init__(dynamic_binarization=True, **kwargs)
        self.latent_dim = latent_dim
        self.units = units
        self.encoder = keras.layers.Dense(units, activation="tanh")
        self.posterior = keras_vae.layers.GaussianParameters(latent_dim)
        self.decoder = keras.Sequential(
            [keras.layers.Dense(units, activation="tanh")]
        )
        self.likelihood = keras_vae.likelihoods.Bernoulli()
        self.prior = keras_vae.priors.StandardNormal(latent_dim=latent_dim)
        self.data_shape = None

    def build(self, input_shape):
        self.data_shape = tuple(input_shape[1:])
        self.decoder.add(keras.layers.Dense(self.data_shape[-1]))
        self.encoder.build(input_shape)
        self.posterior.build((None, self.units))
        self.decoder.build((None, self.latent_dim))
        self.prior.build((None, self.latent_dim))
        self.built = True

    def encode_tensors(self, x):
        return self.posterior(self.encoder(x))

    def decode_tensors(self, z):
        return self.likelihood.mean(self.decoder(z))

    def compute_terms(self, x, training=False):
        loc, scale = self.posterior(self.encoder(x, training=training))
        z = self.reparameterize(loc, scale, 1)
        rec = self.likelihood.log_prob(x, self.decoder(z[0], training=training))[None]
        kl = 0.5 * ops.sum(
            ops.square(loc) + ops.square(scale) - 1.0 - 2.0 * ops.log(scale), axis=-1
        )[None]
        objective, bound = self.objective_terms(rec, kl)
        # Per example, `(batch,)`: `compute_loss` reduces them.
        return {"loss": -objective, "elbo": bound, "reconstruction": rec[0], "kl": kl[0]}

    def call(self, x, training=False):
        return self.decode_tensors(self.encode_tensors(x)[0])

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "units": self.units}


@keras.saving.register_keras_serializable(package="subclass_config_test")
class PenalizedVAE(keras_vae.models.VAE):
    """A VAE with `loc_penalty * mean ||loc||^2` added to its loss, and
    ||loc||^2 logged as a term of its own."""

    def __init__(self, loc_penalty=0.1, **kwargs):
        super().__init__(metric_names=("loc_norm",), **kwargs)
        self.loc_penalty = float(loc_penalty)

    def compute_terms(self, x, training=False):
        terms = super().compute_terms(x, training)
        terms["loc_norm"] = ops.sum(ops.square(self.encode_tensors(x)[0]), axis=-1)
        return terms

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        loc, _ = self.encode_tensors(x)
        return loss + self.loc_penalty * ops.mean(ops.sum(ops.square(loc), axis=-1))

    def get_config(self):
        return {**super().get_config(), "loc_penalty": self.loc_penalty}
'''

# The child: a fresh interpreter that imports the user's classes, loads
# each saved file and writes its weights and `encode` of the data.
CHILD = """
import json
import sys

import numpy as np

sys.path[:0] = [{user_dir!r}, {example_dir!r}]
import keras  # noqa: E402

import {user_module}  # noqa: E402,F401  (registers the user's classes)
import train  # noqa: E402,F401  (registers the example's IWAE)

manifest = json.loads(open({manifest!r}).read())
for entry in manifest:
    x = np.load(entry["x"])
    for path in entry["files"]:
        model = keras.models.load_model(path)
        loc, scale = model.encode(x)
        np.savez(
            path + ".npz",
            loc=np.asarray(loc),
            scale=np.asarray(scale),
            **{{f"w{{i}}": np.asarray(w) for i, w in enumerate(model.get_weights())}},
        )
        entry.setdefault("loaded", []).append(
            {{"class": type(model).__name__, "config": model.get_config()}}
        )
print("RESULT " + json.dumps(manifest, default=str))
"""


def _binary(n=32, dim=12, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, dim)) < 0.4).astype("float32")


def _example_iwae():
    spec = importlib.util.spec_from_file_location("custom_model_train", EXAMPLE_DIR / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.IWAE


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """The user's module, written to a directory and imported by name."""
    directory = tmp_path_factory.mktemp("user_models")
    (directory / f"{USER_MODULE}.py").write_text(textwrap.dedent(USER_SOURCE))
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(USER_MODULE)
    finally:
        sys.path.remove(str(directory))
    return directory, module


def _cases(module):
    """`(name, class, constructor arguments)` of the three user models."""
    return [
        ("iwae", _example_iwae(), {"latent_dim": 2, "hidden_units": (8,), "seed": 1}),
        (
            "pass_through",
            module.PassThrough,
            {
                "objective": "elbo",
                "metric_names": ("reconstruction", "kl"),
                "beta": 0.5,
                "seed": 3,
            },
        ),
        (
            "penalized_vae",
            module.PenalizedVAE,
            {"loc_penalty": 0.2, "latent_dim": 2, "hidden_units": (8,), "seed": 2},
        ),
    ]


@pytest.fixture(scope="module")
def cases(user_models):
    return {name: (cls, kwargs) for name, cls, kwargs in _cases(user_models[1])}


def test_configs_leave_out_what_the_subclass_fixes(cases):
    iwae = cases["iwae"][0](latent_dim=2, hidden_units=(8,), seed=1).get_config()
    # Fixed in its `super().__init__` call: left out. Named by its `__init__`: kept.
    assert "objective" not in iwae and "metric_names" not in iwae
    assert "dynamic_binarization" not in iwae
    assert iwae["beta"] == 1.0 and iwae["seed"] == 1

    cls, kwargs = cases["pass_through"]
    config = cls(**kwargs).get_config()
    # Passed through **kwargs: kept, with the caller's values.
    assert config["objective"] == "elbo" and config["beta"] == 0.5 and config["seed"] == 3
    assert config["metric_names"] == ["reconstruction", "kl"]
    # Fixed by the subclass: left out.
    assert "dynamic_binarization" not in config

    cls, kwargs = cases["penalized_vae"]
    config = cls(**kwargs).get_config()
    # The VAE arguments it forwards stay, as in a VAE's own config.
    for name in ("objective", "beta", "seed", "dynamic_binarization", "latent_dim"):
        assert name in config, name
    assert config["loc_penalty"] == 0.2
    assert "metric_names" not in config


def test_vae_subclass_logs_its_own_terms(cases):
    # A term the subclass adds (`metric_names`) is logged after VAE's own
    # and reports the batch mean of its entry: here ||loc||^2, a
    # deterministic function of x checked against `encode` in numpy.
    cls, kwargs = cases["penalized_vae"]
    model = cls(**kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = _binary()
    history = model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert [m.name for m in model.metrics] == [
        "loss",
        "elbo",
        "reconstruction",
        "kl",
        "loc_norm",
        "beta",
    ]
    assert "loc_norm" in history.history
    logs = model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)
    loc = np.asarray(model.encode(x)[0])
    np.testing.assert_allclose(logs["loc_norm"], np.mean(np.sum(loc**2, -1)), rtol=1e-5)


@pytest.mark.parametrize("name", ["iwae", "pass_through", "penalized_vae"])
def test_from_config_and_clone_model(cases, name):
    cls, kwargs = cases[name]
    model = cls(**kwargs)
    x = _binary()
    model(x)
    config = json.loads(json.dumps(model.get_config()))
    for how, copy in (
        ("from_config", cls.from_config(config)),
        ("clone_model", keras.models.clone_model(model)),
    ):
        assert type(copy) is cls, how
        assert json.loads(json.dumps(copy.get_config())) == config, how
        copy(x)
        assert [m.name for m in copy.metrics] == [m.name for m in model.metrics], how
        assert [w.shape for w in copy.weights] == [w.shape for w in model.weights], how
        assert copy.initial_beta == model.initial_beta and copy.objective == model.objective


@pytest.mark.parametrize("name", ["iwae", "pass_through", "penalized_vae"])
def test_shared_model_checks(cases, name):
    # `keras_vae.testing.run_model_test`, the conformance suite's model
    # check: config and Keras serialization round trips, XLA `fit` moving
    # every weight, `.keras` save/load with equal weights and outputs.
    cls, kwargs = cases[name]
    run_model_test(cls, kwargs, _binary(8))


def test_fit_checkpoint_and_load_in_a_fresh_process(user_models, cases, tmp_path):
    user_dir, _ = user_models
    x = _binary()
    manifest, originals = [], {}
    for name, (cls, kwargs) in cases.items():
        model = cls(**kwargs)
        # Eager steps: the XLA `fit` is `test_shared_model_checks`'s; here
        # only the files matter.
        model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
        checkpoint = str(tmp_path / f"{name}_checkpoint.keras")
        model.fit(
            x,
            epochs=2,
            batch_size=16,
            shuffle=False,
            verbose=0,
            callbacks=[keras.callbacks.ModelCheckpoint(checkpoint)],
        )
        saved = str(tmp_path / f"{name}.keras")
        model.save(saved)
        np.save(tmp_path / f"{name}_x.npy", x)
        manifest.append(
            {"name": name, "x": str(tmp_path / f"{name}_x.npy"), "files": [saved, checkpoint]}
        )
        originals[name] = (model, model.encode(x), model.get_config())
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    child = tmp_path / "load_child.py"
    child.write_text(
        CHILD.format(
            user_dir=str(user_dir),
            example_dir=str(EXAMPLE_DIR),
            user_module=USER_MODULE,
            manifest=str(manifest_path),
        )
    )
    stdout = run_script(child, cwd=tmp_path)
    line = [s for s in stdout.splitlines() if s.startswith("RESULT ")][-1]
    for entry in json.loads(line[len("RESULT ") :]):
        model, (loc, scale), config = originals[entry["name"]]
        assert len(entry["loaded"]) == 2
        for path, loaded in zip(entry["files"], entry["loaded"]):
            what = f"{entry['name']} from {Path(path).name}"
            assert loaded["class"] == type(model).__name__, what
            arrays = np.load(path + ".npz")
            weights = model.get_weights()
            assert len([k for k in arrays.files if k.startswith("w")]) == len(weights), what
            for i, w in enumerate(weights):
                np.testing.assert_array_equal(arrays[f"w{i}"], w, err_msg=f"{what}: weight {i}")
            np.testing.assert_array_equal(arrays["loc"], np.asarray(loc), err_msg=what)
            np.testing.assert_array_equal(arrays["scale"], np.asarray(scale), err_msg=what)
            assert json.loads(json.dumps(loaded["config"], default=str)) == json.loads(
                json.dumps(config, default=str)
            ), what
