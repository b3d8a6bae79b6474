"""Shared checks: serialization round trips and array/shape helpers.

`run_serialization_test` checks any serializable keras_vae object; the
helpers here are shared by `run_layer_test` and `run_model_test`.
"""

import inspect
import json
import os
import shutil
import tempfile

import keras
import numpy as np
from keras import ops

# --------------------------------------------------------------- structures


def is_shape(value):
    """A shape is a tuple/list of ints and Nones (the empty tuple included)."""
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in value
    )


def flatten_shapes(structure):
    """Flatten a nest of shapes (a shape, or tuples/lists/dicts of them)."""
    if is_shape(structure):
        return [tuple(None if d is None else int(d) for d in structure)]
    if isinstance(structure, dict):
        return [s for key in sorted(structure) for s in flatten_shapes(structure[key])]
    if isinstance(structure, (tuple, list)):
        return [s for item in structure for s in flatten_shapes(item)]
    raise TypeError(f"Expected a shape or a nest of shapes. Received: {structure!r}")


def _as_tuple_of_inputs(value, is_leaf):
    """A single input as a 1-tuple; several (a tuple/list) as a tuple."""
    if is_leaf(value):
        return (value,)
    return tuple(value)


def _normalize_config(config, what):
    """JSON round trip of a config (tuples become lists); fails if not JSON."""
    try:
        return json.loads(json.dumps(config))
    except TypeError as error:
        raise AssertionError(
            f"Expected the {what} to be JSON-serializable. Received: {config!r} ({error})"
        ) from error


def _seed_state_pairs(model_a, model_b):
    """Pairs of seed-generator state variables of two same-architecture models."""
    a = [v for v in model_a.variables if "seed_generator_state" in v.path]
    b = [v for v in model_b.variables if "seed_generator_state" in v.path]
    if len(a) != len(b):
        raise AssertionError(
            "Expected the loaded model to own as many seed generators as the "
            f"saved one. Received: {len(a)} and {len(b)}"
        )
    return list(zip(a, b))


def to_numpy(x):
    """`x` (array, tensor or variable) as a NumPy array."""
    return np.asarray(ops.convert_to_numpy(x))


def weights_snapshot(model):
    """NumPy copies of `model.weights`, for `assert_untrained`."""
    return [to_numpy(w) for w in model.weights]


def assert_untrained(model, before):
    """Assert the optimizer took no step and the weights equal `before`
    (a `weights_snapshot`): a refused input changed nothing."""
    assert int(to_numpy(model.optimizer.iterations)) == 0
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(to_numpy(b), a, err_msg=b.path)


def _map_shapes(fn, structure):
    """Apply `fn` to every shape of a nest of shapes (tuples/lists)."""
    if is_shape(structure):
        return fn(tuple(structure))
    return tuple(_map_shapes(fn, item) for item in structure)


def first_leaf(structure):
    """The first array or shape of a nest."""
    return keras.tree.flatten(structure)[0]


def shapes_of(structure):
    """The nest of shapes of a nest of arrays or tensors."""
    return keras.tree.map_structure(lambda t: tuple(t.shape), structure)


def make_inputs(input_data, input_shape, seed):
    """A tuple of NumPy inputs: `input_data` (arrays, or a callable `rng -> data`),
    or standard normal arrays of `input_shape` (a shape or a tuple of shapes)."""
    if (input_data is None) == (input_shape is None):
        raise ValueError(
            "Pass exactly one of `input_data` and `input_shape`. Received: "
            f"input_data is None={input_data is None}, input_shape={input_shape!r}"
        )
    if input_data is not None:
        if callable(input_data):
            input_data = input_data(np.random.RandomState(seed))
        arrays = _as_tuple_of_inputs(
            input_data, lambda v: hasattr(v, "shape") and hasattr(v, "dtype")
        )
        return tuple(keras.tree.map_structure(to_numpy, a) for a in arrays)
    rng = np.random.RandomState(seed)
    shapes = _as_tuple_of_inputs(input_shape, is_shape)
    return tuple(_map_shapes(lambda s: rng.normal(size=s).astype("float32"), s) for s in shapes)


def check_shapes(actual, expected, what):
    """Assert two flat lists of shapes are equal; `what` names the call in the error."""
    actual, expected = list(actual), list(expected)
    if len(actual) != len(expected):
        raise AssertionError(
            f"Expected {len(expected)} output(s) for {what}. "
            f"Received: {len(actual)} output(s) of shapes {actual}"
        )
    for i, (a, e) in enumerate(zip(actual, expected)):
        if tuple(a) != tuple(e):
            raise AssertionError(
                f"Output {i} of {what}: expected shape {tuple(e)}. Received: {tuple(a)}"
            )


def _assert_close(actual, expected, what, rtol=1e-6, atol=1e-6):
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            to_numpy(a), to_numpy(e), rtol=rtol, atol=atol, err_msg=f"{what}, output {i}"
        )


def _init_argument_names(instance):
    """Named `__init__` arguments a config must hold (Convention 1)."""
    params = inspect.signature(type(instance).__init__).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in named and p.name != "self"]
    if isinstance(instance, keras.losses.Loss):
        # keras.losses.Loss.get_config itself leaves out `dtype`.
        names = [n for n in names if n != "dtype"]
    # Data arguments (e.g. the examples of a diagnostic callback) are not
    # configuration: configs must leave them out.
    data = getattr(type(instance), "data_arguments", ())
    return [n for n in names if n not in data]


def run_serialization_test(instance, custom_objects=None):
    """Check the config and Keras serialization round trips of an object.

    `get_config` must be JSON-serializable; `from_config(get_config())` and
    `deserialize_keras_object(serialize_keras_object(...))` (through JSON)
    must give an object of the same class whose config is unchanged. Layers
    must extend the base config (which holds `name`). Every `__init__`
    argument must be in the config, except the data arguments a class names
    in `data_arguments` (e.g. a callback's examples), which must not be.

    Args:
        instance: A layer, loss, callback, model or other Keras object.
        custom_objects: Passed to `deserialize_keras_object`.

    Returns:
        The deserialized object.
    """
    cls = type(instance)
    config = instance.get_config()
    normalized = _normalize_config(config, f"config of {cls.__name__}")
    if isinstance(instance, keras.layers.Layer) and "name" not in config:
        raise AssertionError(
            f"Expected {cls.__name__}.get_config() to extend the base layer "
            f"config (with 'name'). Received: {config!r}"
        )
    held = [n for n in getattr(type(instance), "data_arguments", ()) if n in config]
    if held:
        raise AssertionError(
            f"Expected {cls.__name__}.get_config() to leave out its data "
            f"arguments. Received: a config holding {held}"
        )
    missing = [n for n in _init_argument_names(instance) if n not in config]
    if missing:
        raise AssertionError(
            f"Expected {cls.__name__}.get_config() to hold every `__init__` "
            f"argument (Convention 1). Received: a config missing {missing}"
        )
    clones = {"from_config": cls.from_config(config)}
    serialized = _normalize_config(
        keras.saving.serialize_keras_object(instance), "serialized object"
    )
    clones["deserialize_keras_object"] = keras.saving.deserialize_keras_object(
        serialized, custom_objects=custom_objects
    )
    for how, clone in clones.items():
        if type(clone) is not cls:
            raise AssertionError(
                f"Expected {how} to return a {cls.__name__}. Received: {type(clone).__name__}"
            )
        again = _normalize_config(clone.get_config(), f"config after {how}")
        if again != normalized:
            raise AssertionError(
                f"The {how} round trip changed the config of {cls.__name__}."
                f"\nBefore: {normalized}\nAfter:  {again}"
            )
    return clones["deserialize_keras_object"]


def check_keras_file_round_trip(model, x, custom_objects, deterministic):
    """Save `model` to `.keras`, load it, compare weights and outputs."""
    tmp = tempfile.mkdtemp(prefix="keras_vae_test_")
    try:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, custom_objects=custom_objects)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(loaded.weights) != len(model.weights):
        raise AssertionError(
            f"The loaded model has {len(loaded.weights)} weights; the saved one "
            f"has {len(model.weights)}."
        )
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(
            to_numpy(a), to_numpy(b), err_msg=f"weight {a.path} after .keras round trip"
        )
    # Seed-generator states are not saved in .keras files: align them so a
    # seeded random layer or model must reproduce the saved outputs exactly.
    for a, b in _seed_state_pairs(model, loaded):
        b.assign(a)
    expected, actual = keras.tree.flatten(model(x)), keras.tree.flatten(loaded(x))
    check_shapes(
        [tuple(a.shape) for a in actual],
        [tuple(e.shape) for e in expected],
        "the loaded model",
    )
    if deterministic:
        _assert_close(actual, expected, ".keras save/load round trip")
    return loaded
