"""Conformance of `USER_MODELS`: a user's own models on the public contract.

`keras_vae.testing.registry.USER_MODELS` registers models that are not
keras_vae symbols (the IWAE of `examples/custom_model`), keyed by an
importable `"module:Class"` path. The suite's model checks parametrize over
`conformance.model_names()`, the public models and these: `run_model_test`
(config and serialization round trips, `clone_model`, XLA `fit`, `.keras`
save and load; test_registry.py), `summary()`, exact resume with
`BackupAndRestore`, mixed precision, export and serving. Here, what only a
model outside keras_vae needs: a well-formed table, and a `.keras` file
that loads in a fresh process importing the model's module by that path, as
a user's evaluation or serving job would (one child for all user models).
"""

import inspect
import json
import sys

import keras
import numpy as np
import pytest

from keras_vae.testing import conformance
from keras_vae.testing import run_check_script

KEYS = sorted(conformance.USER_MODELS)

CHILD = """
import importlib
import json
import sys

import numpy as np

sys.path[:0] = {paths!r}
import keras  # noqa: E402

manifest = json.loads(open({manifest!r}).read())
for entry in manifest:
    # What the user's job does: import the model's module, then load.
    importlib.import_module(entry["key"].partition(":")[0])
    model = keras.models.load_model(entry["path"])
    x = np.load(entry["x"])
    c = np.load(entry["c"]) if entry["c"] else None
    outputs = keras.tree.flatten(model(x if c is None else (x, c)))
    np.savez(
        entry["out"],
        **{{f"out{{i}}": np.asarray(o) for i, o in enumerate(outputs)}},
        **{{f"w{{i}}": np.asarray(w) for i, w in enumerate(model.weights)}},
    )
    entry["class"] = f"{{type(model).__module__}}:{{type(model).__qualname__}}"
print("RESULT " + json.dumps(manifest))
"""


def test_user_models_are_not_public_symbols():
    assert not set(KEYS) & set(conformance.public_symbols())
    for key in KEYS:
        module, colon, name = key.partition(":")
        assert colon and module and name.isidentifier(), f"{key}: not 'package.module:Class'"
        assert module.split(".")[0] != "keras_vae", f"{key}: a keras_vae name goes in CONFORMANCE"


@pytest.mark.parametrize("key", KEYS)
def test_user_model_entry(key):
    specs = conformance.specs(key)
    # One spec per user model keeps the suite fast; kind "model" for the checks.
    assert len(specs) == 1 and specs[0].kind == "model", specs
    cls = conformance.resolve(key)
    assert isinstance(cls, type) and issubclass(cls, keras.Model), cls
    # The class lives at its key (not a copy loaded from a file path), and
    # `.keras` files name it through its registration, outside keras_vae's.
    assert f"{cls.__module__}:{cls.__qualname__}" == key
    registered = keras.saving.get_registered_name(cls)
    assert ">" in registered and not registered.startswith("keras_vae>"), registered
    assert keras.saving.get_registered_object(registered) is cls
    assert inspect.getdoc(cls), f"{key} has no docstring"


def test_user_models_load_in_a_fresh_process(tmp_path):
    manifest, expected = [], {}
    for i, key in enumerate(KEYS):
        keras.backend.clear_session()
        keras.utils.set_random_seed(1337)
        spec = conformance.specs(key)[0]
        x, c = conformance.model_data(spec)
        model = conformance.resolve(key)(**spec.init_kwargs)
        outputs = keras.tree.flatten(model(conformance.model_inputs(x, c)))
        entry = {"key": key, "path": str(tmp_path / f"model{i}.keras")}
        model.save(entry["path"])
        entry["x"] = str(tmp_path / f"x{i}.npy")
        np.save(entry["x"], x)
        entry["c"] = None if c is None else str(tmp_path / f"c{i}.npy")
        if c is not None:
            np.save(entry["c"], c)
        entry["out"] = str(tmp_path / f"out{i}.npz")
        manifest.append(entry)
        expected[key] = (
            spec,
            [np.asarray(o) for o in outputs],
            [np.asarray(w) for w in model.weights],
        )
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    script = tmp_path / "load_user_models.py"
    paths = [p for p in sys.path if p]
    script.write_text(CHILD.format(paths=paths, manifest=str(tmp_path / "manifest.json")))
    loaded = run_check_script(script)

    for entry in loaded:
        key = entry["key"]
        spec, outputs, weights = expected[key]
        assert entry["class"] == key
        got = np.load(entry["out"])
        for i, w in enumerate(weights):
            np.testing.assert_array_equal(got[f"w{i}"], w, err_msg=f"{key} weight {i}")
        if spec.deterministic:
            for i, o in enumerate(outputs):
                np.testing.assert_array_equal(got[f"out{i}"], o, err_msg=f"{key} output {i}")
