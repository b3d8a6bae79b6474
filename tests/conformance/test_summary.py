"""Conformance: `summary()` works for every registered layer and model.

`model.summary()` is the first thing users call on a model. For a subclassed
model (all keras_vae models) Keras formats each sublayer's row with
`layer.compute_output_shape(**layer._build_shapes_dict)`, the shapes recorded
by `build`, keyed by the names of `build`'s arguments. A layer whose `build`
and `compute_output_shape` name their arguments differently breaks the
summary of every model holding it (issue 13, item 2). The checks here run
that consumer path:

- every layer spec, unbuilt and built, inside a user's subclassed model
  and (built) inside a functional model; the shape the summary would show
  must be the shape the layer returns;
- every model spec (the user models of `USER_MODELS` too), unbuilt and
  built, with and without `expand_nested`.
"""

import keras
import numpy as np
import pytest

from keras_vae.testing import conformance
from keras_vae.testing.checks import make_inputs


def _cases(kind):
    names = conformance.model_names() if kind == "model" else conformance.names_of_kind(kind)
    return [
        pytest.param(name, spec, id=f"{name}[{i}]")
        for name in names
        for i, spec in enumerate(conformance.specs(name))
    ]


def _clear():
    keras.backend.clear_session()
    keras.utils.set_random_seed(1337)


def _summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda text, **_: lines.append(text), **kwargs)
    text = "\n".join(lines)
    assert "Total params" in text, text
    return text


def _shapes(structure):
    """The nest of shapes of a nest of tensors or shapes, as int tuples."""
    if hasattr(structure, "shape"):
        return tuple(None if d is None else int(d) for d in structure.shape)
    if isinstance(structure, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in structure
    ):
        return tuple(None if d is None else int(d) for d in structure)
    return tuple(_shapes(item) for item in structure)


class _Holder(keras.Model):
    """A user's subclassed model that holds one layer."""

    def __init__(self, layer, call_kwargs):
        super().__init__()
        self.inner = layer
        self.call_kwargs = call_kwargs

    def call(self, *inputs):
        return self.inner(*inputs, **self.call_kwargs)


def _layer(name, spec):
    return conformance.resolve(name)(**spec.init_kwargs)


@pytest.mark.parametrize("name, spec", _cases("layer"))
def test_layer_summary_unbuilt(name, spec):
    _clear()
    layer = _layer(name, spec)
    text = _summary(_Holder(layer, spec.call_kwargs))
    assert f"({type(layer).__name__})" in text and "unbuilt" in text


@pytest.mark.parametrize("name, spec", _cases("layer"))
def test_layer_summary_built_shows_the_output_shape(name, spec):
    _clear()
    layer = _layer(name, spec)
    inputs = make_inputs(spec.input_data, spec.input_shape, 0)
    outputs = layer(*inputs, **spec.call_kwargs)
    _summary(_Holder(layer, spec.call_kwargs))
    # Exactly the call `model.summary()` makes for a built sublayer
    # (keras.src.utils.summary_utils.format_layer_shape).
    shown = layer.compute_output_shape(**layer._build_shapes_dict)
    assert _shapes(shown) == _shapes(outputs), (
        f"{name}: the summary shows {shown}; the layer returns {_shapes(outputs)}"
    )


@pytest.mark.parametrize("name, spec", _cases("layer"))
def test_layer_summary_in_a_functional_model(name, spec):
    _clear()
    layer = _layer(name, spec)
    arrays = make_inputs(spec.input_data, spec.input_shape, 0)
    symbolic = keras.tree.map_structure(
        lambda a: keras.Input(batch_shape=a.shape, dtype=a.dtype), arrays
    )
    outputs = layer(*symbolic, **spec.call_kwargs)
    model = keras.Model(list(symbolic) if len(symbolic) > 1 else symbolic[0], outputs)
    _summary(model)
    actual = layer(*arrays, **spec.call_kwargs)
    assert _shapes(outputs) == _shapes(actual)


@pytest.mark.parametrize("name, spec", _cases("model"))
@pytest.mark.parametrize("built", [False, True], ids=["unbuilt", "built"])
def test_model_summary(name, spec, built):
    _clear()
    model = conformance.resolve(name)(**spec.init_kwargs)
    if built:
        model(conformance.model_inputs(*conformance.model_data(spec)))
    text = _summary(model)
    nested = _summary(model, expand_nested=True, show_trainable=True)
    if built:
        assert "(unbuilt)" not in text
        assert f"{model.count_params():,}" in text
        # Every sublayer is built, and its row has a shape computed as in
        # keras.src.utils.summary_utils.format_layer_shape.
        for layer in model.layers:
            assert layer.built, f"{name}: sublayer {layer.name} is not built"
            if not layer._build_shapes_dict:
                continue  # built in __init__ (GECO): the row shows "?"
            if layer._inbound_nodes or hasattr(layer, "output_shape"):
                continue
            shown = layer.compute_output_shape(**layer._build_shapes_dict)
            assert isinstance(_shapes(shown), tuple), f"{layer.name} shows {shown}"
    assert len(nested) >= len(text)
