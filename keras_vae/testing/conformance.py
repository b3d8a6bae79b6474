"""Lookups and checks over the conformance registry (`keras_vae.testing.registry`).

`specs`, `kind_of`, `names_of_kind` read the registry; `public_symbols`
lists what the subpackages export, so `tests/conformance/test_registry.py`
can check that the two agree exactly; `matches_kind` checks that an object
is of its registered kind; `random_inputs` makes the arrays the shared
checks feed a spec. `model_names` lists what the model checks run on: the
public models, then the user models of `USER_MODELS`; `model_data` makes a
model spec's batch and condition.
"""

import importlib
import importlib.util
import types

import keras
import numpy as np

from keras_vae.testing.registry import CONFORMANCE
from keras_vae.testing.registry import KINDS
from keras_vae.testing.registry import SUBPACKAGES
from keras_vae.testing.registry import USER_MODELS
from keras_vae.testing.registry import Spec

__all__ = [
    "CONFORMANCE",
    "KINDS",
    "SUBPACKAGES",
    "USER_MODELS",
    "Spec",
    "existing_subpackages",
    "kind_of",
    "matches_kind",
    "model_data",
    "model_inputs",
    "model_names",
    "names_of_kind",
    "public_symbols",
    "random_inputs",
    "resolve",
    "specs",
]


def specs(name):
    """The registered specs of `name` (a public name or a `USER_MODELS`
    key) as a tuple (one or more)."""
    entry = CONFORMANCE[name] if name in CONFORMANCE else USER_MODELS[name]
    return entry if isinstance(entry, tuple) else (entry,)


def kind_of(name):
    """The kind of a registered symbol (the same for all its specs)."""
    kinds = {s.kind for s in specs(name)}
    if len(kinds) != 1:
        raise ValueError(f"Expected every spec of {name!r} to have one kind. Received: {kinds}")
    return kinds.pop()


def names_of_kind(kind):
    """Registered public names of one kind, sorted."""
    return sorted(name for name in CONFORMANCE if kind_of(name) == kind)


def model_names():
    """What the model checks run on: the public models (sorted), then the
    keys of `USER_MODELS` (sorted)."""
    return names_of_kind("model") + sorted(USER_MODELS)


def resolve(name):
    """Import and return the object named by a dotted public name
    (`"keras_vae.models.VAE"`) or a `USER_MODELS` key
    (`"examples.custom_model.iwae:IWAE"`)."""
    module_name, colon, attr = name.partition(":")
    if not colon:
        module_name, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def model_data(spec, seed=0):
    """`(x, c)` of a model spec: its batch, and its condition (`None` for a
    model of p(x)), both drawn from one `np.random.RandomState(seed)`.

    `fit(x, c)` and `evaluate(x, c)` take them as they are (`c=None` is no
    `y`); the model is called on `model_inputs(x, c)`.
    """
    rng = np.random.RandomState(seed)
    data = spec.input_data(rng) if callable(spec.input_data) else spec.input_data
    x = np.asarray(keras.ops.convert_to_numpy(data))
    condition = spec.condition_data
    if callable(condition):
        condition = condition(rng)
    if condition is not None:
        condition = np.asarray(keras.ops.convert_to_numpy(condition))
    return x, condition


def model_inputs(x, condition):
    """What a model is called on: `x`, or a conditional model's pair `(x, c)`."""
    return x if condition is None else (x, condition)


def existing_subpackages():
    """Names of `SUBPACKAGES` that exist as regular packages (with `__init__`).

    A directory without `__init__.py` (a namespace package) is a subpackage
    still being written and is skipped; a regular package without `__all__`
    is an error, since its public API would be unknowable.
    """
    found = []
    for sub in SUBPACKAGES:
        full = f"keras_vae.{sub}"
        if importlib.util.find_spec(full) is None:
            continue
        module = importlib.import_module(full)
        if getattr(module, "__file__", None) is None:
            continue
        if not hasattr(module, "__all__"):
            raise AttributeError(
                f"Expected {full} to define `__all__` (its public API). "
                f"Received: a package without `__all__`"
            )
        found.append(sub)
    return found


def public_symbols():
    """Dotted names of keras_vae's public symbols, from each `__all__`.

    Returns:
        A sorted list such as `["keras_vae.callbacks.KLWarmUp", ...]`.
    """
    names = []
    for sub in existing_subpackages():
        module = importlib.import_module(f"keras_vae.{sub}")
        names.extend(f"keras_vae.{sub}.{attr}" for attr in module.__all__)
    return sorted(names)


def matches_kind(obj, kind):
    """Whether a public object is of the kind its spec claims."""
    if kind == "layer":
        return isinstance(obj, type) and issubclass(obj, keras.layers.Layer)
    if kind == "model":
        return isinstance(obj, type) and issubclass(obj, keras.Model)
    if kind == "loss":
        return isinstance(obj, type) and issubclass(obj, keras.losses.Loss)
    if kind == "callback":
        return isinstance(obj, type) and issubclass(obj, keras.callbacks.Callback)
    if kind == "model_component":
        return isinstance(obj, type) and issubclass(obj, keras.layers.Layer)
    if kind in ("base_class",):
        return isinstance(obj, type)
    if kind == "exception":
        return isinstance(obj, type) and issubclass(obj, BaseException)
    if kind == "data_class":
        return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
    if kind == "function":
        return isinstance(obj, types.FunctionType)
    if kind == "module":
        return isinstance(obj, types.ModuleType)
    if kind == "constant":
        return not callable(obj) and not isinstance(obj, types.ModuleType)
    return False


def random_inputs(shape, seed=0):
    """Standard normal float32 data of `shape`, for specs given by shape."""
    return np.random.RandomState(seed).normal(size=shape).astype("float32")
