"""`run_model_test`: serialization, `clone_model`, XLA `fit` and `.keras` I/O of a model."""

import json

import keras
import numpy as np

from keras_vae.testing.checks import check_keras_file_round_trip
from keras_vae.testing.checks import make_inputs
from keras_vae.testing.checks import run_serialization_test
from keras_vae.testing.checks import to_numpy


def run_model_test(
    model_cls,
    init_kwargs,
    input_data,
    custom_objects=None,
    deterministic=True,
    epochs=1,
    seed=0,
    untrained_weights=(),
    condition=None,
):
    """Check a keras_vae model class: serialization, XLA `fit`, `.keras` I/O.

    The model is built by a call on `input_data`, trained for `epochs` with
    `compile(optimizer="adam", jit_compile=True)` (the model computes its own
    objective), must report finite losses and change every trainable weight
    (except those named in `untrained_weights`, which must exist: weights
    the spec says may get no gradient), and must
    round-trip its config and a `.keras` file: same weights and,
    with `deterministic=True`, the same call outputs once the seed-generator
    states (not stored in `.keras` files) are aligned. `keras.models.clone_model`
    must give a model of the same class, config, weight shapes and metrics.

    Args:
        model_cls: The model class.
        init_kwargs: Dict of constructor arguments.
        input_data: An array (or callable `rng -> array`) of one batch.
        custom_objects: Passed to deserialization and loading.
        deterministic: Compare call outputs after save/load.
        epochs: Epochs of the `fit` check.
        seed: Seed of a callable `input_data`.
        untrained_weights: Substrings of the paths of trainable weights that
            may get no gradient (the spec says why); every other trainable
            weight must move in `fit`.
        condition: A conditional model's condition c of the batch (class
            ids or vectors): it trains with `fit(x, c)` and is called on
            `(x, c)`. `None` for a model of p(x).
    """
    x = make_inputs(input_data, None, seed)
    if len(x) != 1:
        raise ValueError(f"Expected one input array for a model. Received: {len(x)} arrays")
    x = x[0]
    inputs = x if condition is None else (x, condition)
    model = model_cls(**dict(init_kwargs or {}))
    model(inputs)
    trainable = list(model.trainable_weights)
    if not trainable:
        raise AssertionError(f"{model_cls.__name__} has no trainable weights.")
    before = [to_numpy(w).copy() for w in trainable]
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(x, condition, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0)
    for name, values in history.history.items():
        if not np.all(np.isfinite(values)):
            raise AssertionError(f"fit reported a non-finite {name}: {values}")
    exempt = tuple(untrained_weights or ())
    unmatched = [s for s in exempt if not any(s in w.path for w in trainable)]
    if unmatched:
        raise AssertionError(
            f"Expected every entry of `untrained_weights` to name a trainable "
            f"weight of {model_cls.__name__}. Received: no weight path contains "
            f"{unmatched}"
        )
    frozen = []
    for w, b in zip(trainable, before):
        new = to_numpy(w)
        if not np.all(np.isfinite(new)):
            raise AssertionError(f"Weight {w.path} is not finite after fit.")
        if np.array_equal(new, b) and not any(s in w.path for s in exempt):
            frozen.append(w.path)
    if frozen:
        raise AssertionError(
            f"Expected fit to change every trainable weight of "
            f"{model_cls.__name__} (as the layer test does). Unchanged: {frozen}"
        )

    run_serialization_test(model, custom_objects)
    _check_clone_model(model, inputs)

    loaded = check_keras_file_round_trip(model, inputs, custom_objects, deterministic)
    if type(loaded) is not model_cls:
        raise AssertionError(
            f"Expected load_model to return a {model_cls.__name__}. "
            f"Received: {type(loaded).__name__}"
        )
    return loaded


def _check_clone_model(model, inputs):
    """`keras.models.clone_model` of a built model: same class, config,
    weight shapes and metric names once called (Keras rebuilds a subclassed
    model from its config)."""
    clone = keras.models.clone_model(model)
    if type(clone) is not type(model):
        raise AssertionError(
            f"Expected clone_model to return a {type(model).__name__}. "
            f"Received: {type(clone).__name__}"
        )
    config = json.loads(json.dumps(model.get_config()))
    if json.loads(json.dumps(clone.get_config())) != config:
        raise AssertionError(f"clone_model changed the config of {type(model).__name__}.")
    clone(inputs)
    shapes = [tuple(w.shape) for w in model.weights]
    if [tuple(w.shape) for w in clone.weights] != shapes:
        raise AssertionError(f"The clone of {type(model).__name__} has other weight shapes.")
    names = [m.name for m in model.metrics]
    if [m.name for m in clone.metrics] != names:
        raise AssertionError(
            f"The clone of {type(model).__name__} reports metrics "
            f"{[m.name for m in clone.metrics]}, the model {names}."
        )
