"""`fit`/`evaluate` take their inputs as a Keras user expects (issue "Finish the contract").

1. Every registered model builds from the first batch however the data
   arrives: a Python generator or a `keras.utils.PyDataset` given to an
   unbuilt model (before: `TypeError: 'NoneType' object is not callable`);
   a conditional one from batches `(x, c)`.
2. Targets `y` are refused, not silently dropped, in every call form;
   `(x,)` and `(x, None)` keep working.
3. `compile(loss=..., metrics=...)` is refused, not silently ignored; saved
   models still load compiled.
4. 1-D data `(N,)` and a list or tuple of arrays are refused with a clear
   error.

Each refusal is checked to leave the model untrained.
"""

import json
import re
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.models import VAE
from keras_vae.models import PixelCNN
from keras_vae.testing import conformance
from keras_vae.testing.checks import assert_untrained
from keras_vae.testing.checks import weights_snapshot

SHAPE = (4, 4, 1)
BATCH, NUM_BATCHES = 8, 3


def _model_cases():
    # Every registered model spec fits a generator and evaluates a
    # PyDataset, with XLA; the VAE also the other way round, and without XLA.
    cases = [
        pytest.param(
            name, spec, True, "generator", "pydataset", id=f"{name.rsplit('.', 1)[1]}[{i}]"
        )
        for name in conformance.names_of_kind("model")
        for i, spec in enumerate(conformance.specs(name))
    ]
    vae = conformance.specs("keras_vae.models.VAE")[0]
    cases += [
        pytest.param(
            "keras_vae.models.VAE", vae, True, "pydataset", "generator", id="VAE[0]-swapped"
        ),
        pytest.param(
            "keras_vae.models.VAE", vae, False, "generator", "pydataset", id="VAE[0]-no-xla"
        ),
    ]
    return cases


def _spec_batches(spec, seed=0):
    """`NUM_BATCHES` pairs `(x, c)` of the spec's kind of data (binary
    images, codes) and its condition (`None` for a model of p(x))."""
    batches = []
    for i in range(NUM_BATCHES):
        x, c = conformance.model_data(spec, seed + i)
        batches.append((x[:BATCH], None if c is None else c[:BATCH]))
    return batches


class Batches(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` over a list of batches."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def _source(kind, batches):
    """A generator of `(x,)` tuples or a `PyDataset` of batches `x`, as
    Keras users write them; of `(x, c)` for a conditional model."""
    if kind == "generator":
        return ((x,) if c is None else (x, c) for x, c in batches)
    return Batches([conformance.model_inputs(x, c) for x, c in batches])


def _fresh(name, spec, jit):
    keras.backend.clear_session()
    model = conformance.resolve(name)(**dict(spec.init_kwargs))
    model.compile(optimizer="adam", jit_compile=jit)
    return model


@pytest.mark.parametrize(("name", "spec", "jit", "fit_source", "evaluate_source"), _model_cases())
def test_unbuilt_model_fits_and_evaluates_a_stream(name, spec, jit, fit_source, evaluate_source):
    # Before: fit/evaluate of a generator or PyDataset crashed for every
    # model ('NoneType' object is not callable / not iterable).
    batches = _spec_batches(spec)
    reference = conformance.resolve(name)(**dict(spec.init_kwargs))
    reference(conformance.model_inputs(*batches[0]))  # built eagerly, from the same seed

    model = _fresh(name, spec, jit)
    # Every model but PixelCNN (built at construction from `code_shape`)
    # starts without weights.
    assert not model.built or isinstance(model, PixelCNN)
    history = model.fit(_source(fit_source, batches), epochs=1, verbose=0)
    assert model.built
    assert int(model.optimizer.iterations.numpy()) == NUM_BATCHES
    assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
    # The weights were created from the batch (same shapes as the eager build).
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in reference.weights]

    model = _fresh(name, spec, jit)
    result = model.evaluate(_source(evaluate_source, batches), verbose=0, return_dict=True)
    assert model.built and np.isfinite(result["loss"]), result
    # Evaluating does not train: the lazily built weights are the seed's
    # initial weights, those of the eagerly built reference.
    for built, expected in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(np.array(built), np.array(expected), err_msg=built.path)


# --------------------------------------------------------------- helpers
def images(n=32, seed=0):
    return (np.random.default_rng(seed).random((n,) + SHAPE) < 0.5).astype("float32")


def make_model(build=False):
    keras.utils.set_random_seed(1)
    model = VAE(latent_dim=2, hidden_units=(8,), seed=0)
    if build:
        model.build((None,) + SHAPE)
    model.compile(optimizer="adam", jit_compile=False)
    return model


def pairs_dataset(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def pairs_generator(x, y):
    return ((x[i : i + 8], y[i : i + 8]) for i in range(0, len(x), 8))


def test_a_traced_step_builds_an_unbuilt_model_from_its_batch():
    # Inputs that reach the step unbuilt (Keras's torch DataLoader or grain
    # adapters; not installed here) build there: `unpack` is every step's
    # first call. Model and optimizer get the weights an eager build gives.
    model, reference = make_model(), make_model(build=True)

    @tf.function
    def step(data):
        return model.unpack(data)

    step((tf.constant(images(8)),))
    assert model.built and model.data_shape == SHAPE and model.optimizer.built
    for built, expected in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(np.array(built), np.array(expected), err_msg=built.path)
    model.fit(images(), epochs=1, batch_size=8, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4


# ---------------------------------------------------------------- labels
LABEL_CALLS = {
    "fit(x, y)": lambda m, x, y: m.fit(x, y, epochs=1, verbose=0),
    "fit(x=x, y=y)": lambda m, x, y: m.fit(x=x, y=y, epochs=1, verbose=0),
    "evaluate(x, y)": lambda m, x, y: m.evaluate(x, y, verbose=0),
    "validation_data=(x, y)": lambda m, x, y: m.fit(x, validation_data=(x, y), verbose=0),
    "train_on_batch(x, y)": lambda m, x, y: m.train_on_batch(x, y),
    "test_on_batch(x, y)": lambda m, x, y: m.test_on_batch(x, y),
    "fit(tf.data (x, y))": lambda m, x, y: m.fit(pairs_dataset(x, y), verbose=0),
    "evaluate(tf.data (x, y))": lambda m, x, y: m.evaluate(pairs_dataset(x, y), verbose=0),
    "validation_data=tf.data (x, y)": lambda m, x, y: m.fit(
        x, validation_data=pairs_dataset(x, y), verbose=0
    ),
    "fit(generator (x, y))": lambda m, x, y: m.fit(pairs_generator(x, y), verbose=0),
    "evaluate(generator (x, y))": lambda m, x, y: m.evaluate(pairs_generator(x, y), verbose=0),
}


@pytest.mark.parametrize("build", [False, True])
@pytest.mark.parametrize("call", sorted(LABEL_CALLS))
def test_labels_are_refused(call, build):
    # Before: the labels were silently dropped and the model trained on x.
    x, y = images(), np.arange(32, dtype="float32")
    model = make_model(build=build)
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match="keras_vae models are unconditional") as info:
        LABEL_CALLS[call](model, x, y)
    message = str(info.value)
    assert re.search(r"Received: (y|validation_data\[1\]) of shape \((32|8|None),\)", message), (
        message
    )
    if build:
        assert_untrained(model, before)


def test_one_tuples_and_none_targets_keep_working():
    x = images()
    model = make_model()
    model.fit(x, validation_data=(x,), epochs=1, batch_size=8, verbose=0)
    model.fit(x, validation_data=(x, None), epochs=1, batch_size=8, verbose=0)
    model.fit(tf.data.Dataset.from_tensor_slices((x,)).batch(8), epochs=1, verbose=0)
    model.fit(((x[i : i + 8], None) for i in range(0, 32, 8)), epochs=1, verbose=0)
    model.evaluate(((x[i : i + 8],) for i in range(0, 32, 8)), verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4 * 4


# --------------------------------------------------------------- compile
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"loss": "mse"}, "loss"),
        ({"loss": keras.losses.MeanSquaredError()}, "loss"),
        ({"loss_weights": [1.0]}, "loss_weights"),
        ({"metrics": ["mae"]}, "metrics"),
        ({"metrics": []}, "metrics"),
        ({"weighted_metrics": ["mae"]}, "weighted_metrics"),
    ],
)
def test_compile_refuses_losses_and_metrics(kwargs, name):
    # Before: accepted and silently ignored (no `mae` in the history, `loss`
    # the negative ELBO).
    model = VAE(latent_dim=2, hidden_units=(8,), seed=0)
    with pytest.raises(ValueError, match=re.escape(f"Expected `{name}=None` in `compile`")) as info:
        model.compile(optimizer="adam", **kwargs)
    message = str(info.value)
    assert ("compute_loss" if name.startswith("loss") else "compute_metrics") in message
    assert f"Received: {name}=" in message
    # Positionally, as `keras.Model.compile(optimizer, loss, ...)` takes them.
    if name == "loss":
        with pytest.raises(ValueError, match=re.escape("Expected `loss=None`")):
            model.compile("adam", "mse")


def test_saved_model_with_an_old_compile_loss_still_loads_compiled(tmp_path):
    # A `.keras` file whose compile config holds `loss`/`metrics` (an older
    # keras_vae accepted and ignored them) loads, compiled as saved.
    x = images()
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=False, steps_per_execution=2)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # the config as saved today
    assert loaded.compiled and loaded.steps_per_execution == 2

    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["compile_config"].update(loss="mse", metrics=["mae"])
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    loaded = keras.models.load_model(old)
    assert loaded.compiled and loaded.steps_per_execution == 2
    assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(0.01)
    assert int(loaded.optimizer.iterations.numpy()) == 4
    history = loaded.fit(x, epochs=1, batch_size=8, verbose=0)
    assert "mae" not in history.history and "elbo" in history.history
    assert int(loaded.optimizer.iterations.numpy()) == 8


# ------------------------------------------------- 1-D data, several inputs
ONE_D = np.random.default_rng(0).random(32).astype("float32")
ONE_D_CALLS = {
    "fit": lambda m: m.fit(ONE_D, epochs=1, verbose=0),
    "evaluate": lambda m: m.evaluate(ONE_D, verbose=0),
    "predict": lambda m: m.predict(ONE_D, verbose=0),
    "validation_data": lambda m: m.fit(images(), validation_data=ONE_D, verbose=0),
    "encode": lambda m: m.encode(ONE_D),
    "log_likelihood": lambda m: m.log_likelihood(ONE_D, num_importance_samples=2),
    "fit(tf.data)": lambda m: m.fit(tf.data.Dataset.from_tensor_slices(ONE_D).batch(8), verbose=0),
    "fit(generator)": lambda m: m.fit(((b,) for b in np.split(ONE_D, 4)), verbose=0),
}


@pytest.mark.parametrize("call", sorted(ONE_D_CALLS))
def test_one_dimensional_data_is_refused(call):
    # Before: trained a model of scalars, data_shape=().
    model = make_model()
    with pytest.raises(ValueError, match="at least one feature axis") as info:
        ONE_D_CALLS[call](model)
    message = str(info.value)
    assert re.search(r"Received: \w+\.shape=\((32|8|None),\)", message), message
    assert "(N, 1)" in message
    assert not model.built or model.data_shape != ()
    assert int(model.optimizer.iterations.numpy()) == 0


def _two(x):
    return (x, x)


SEVERAL_CALLS = {
    "fit(tuple)": lambda m, x: m.fit(_two(x), epochs=1, verbose=0),
    "fit(list)": lambda m, x: m.fit(list(_two(x)), epochs=1, verbose=0),
    "fit(x=dict)": lambda m, x: m.fit(x={"a": x, "b": x}, epochs=1, verbose=0),
    "evaluate(tuple)": lambda m, x: m.evaluate(_two(x), verbose=0),
    "predict(list)": lambda m, x: m.predict(list(_two(x)), verbose=0),
    "validation_data=((x, x),)": lambda m, x: m.fit(x, validation_data=(_two(x),), verbose=0),
    "encode(list)": lambda m, x: m.encode(list(_two(x))),
    "log_likelihood(tuple)": lambda m, x: m.log_likelihood(_two(x), num_importance_samples=2),
    "fit(tf.data ((x, x),))": lambda m, x: m.fit(
        tf.data.Dataset.from_tensor_slices((_two(x),)).batch(8), verbose=0
    ),
    "fit(generator ((x, x),))": lambda m, x: m.fit(
        ((_two(x[i : i + 8]),) for i in range(0, 32, 8)), verbose=0
    ),
}


@pytest.mark.parametrize("build", [False, True])
@pytest.mark.parametrize("call", sorted(SEVERAL_CALLS))
def test_several_input_arrays_are_refused(call, build):
    # Before: AttributeError: 'tuple' object has no attribute 'dtype' (or
    # 'shape'), or the arrays stacked into one of shape (2, 32, 4, 4, 1).
    model = make_model(build=build)
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match="keras_vae models take one input") as info:
        SEVERAL_CALLS[call](model, images())
    assert re.search(r"as a (tuple|list|dict) of 2 input\(s\) of shapes", str(info.value))
    if build:
        assert_untrained(model, before)
    else:
        assert not model.built or model.data_shape == SHAPE
