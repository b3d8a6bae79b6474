"""Inputs are validated on every path (issue 13, item 5).

In-memory arrays are checked before any step; streamed data (`tf.data`,
generators) inside the compiled step, where a bad batch skips its update and
the guard raises right after the execution. Each case checks that nothing
was trained: the optimizer's step counter and the weights.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.models import VAE
from keras_vae.testing.checks import assert_untrained
from keras_vae.testing.checks import weights_snapshot

SHAPE = (8, 8, 1)


def images(n=32, seed=0):
    return (np.random.default_rng(seed).random((n,) + SHAPE) < 0.5).astype("float32")


def make_model(jit=False, spe=1, likelihood="bernoulli", build=True):
    keras.utils.set_random_seed(1)
    model = VAE(latent_dim=2, hidden_units=(16,), likelihood=likelihood, seed=0)
    if build:
        model.build((None,) + SHAPE)
    model.compile(optimizer="adam", jit_compile=jit, steps_per_execution=spe)
    return model


@pytest.mark.parametrize("jit", [False, True])
def test_uint8_dataset_is_rejected_inside_the_step(jit):
    # Today: trains to a loss of ~164,000 on 0..255 pixels.
    x = (images() * 255).astype("uint8")
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    model = make_model(jit=jit)
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match=re.escape("Expected `x` to lie in [0, 1]")) as info:
        model.fit(dataset, epochs=1, verbose=0)
    message = str(info.value)
    assert "min=0, max=255 at epoch 0, batch 0." in message, message
    assert "x / 255" in message
    assert_untrained(model, before)


def test_bad_batch_in_the_middle_of_an_execution():
    # steps_per_execution=4: batches 0 and 1 train, batch 2 is bad, batch 3
    # of the same execution does not train either.
    x = images(64)
    x[16 + 5, 2, 2, 0] = 1.5
    model = make_model(jit=True, spe=4)
    with pytest.raises(ValueError, match=re.escape("max=1.5 at epoch 0, batch 2.")):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_evaluate_and_predict_check_streamed_data():
    # Today: evaluate reports a positive "ELBO" for x * 255.
    model = make_model()
    x = images() * 255
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    with pytest.raises(ValueError, match=re.escape("max=255 at batch 0.")):
        model.evaluate(dataset, verbose=0)
    nan = images()
    nan[20, 0, 0, 0] = np.nan
    dataset = tf.data.Dataset.from_tensor_slices(nan).batch(8)
    with pytest.raises(ValueError, match=re.escape("non-finite values (NaN or inf) at batch 2.")):
        model.predict(dataset, verbose=0)
    with pytest.raises(ValueError, match=re.escape("non-finite values (NaN or inf) at batch 2.")):
        model.evaluate(dataset, verbose=0)


def test_predict_checks_arrays_up_front():
    model = make_model()
    with pytest.raises(ValueError, match=re.escape("min=0, max=255")):
        model.predict(images() * 255, verbose=0)
    x = images()
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="1 non-finite value"):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=re.escape("x.shape=(4, 7, 7, 1)")):
        model.predict(np.zeros((4, 7, 7, 1), "float32"), verbose=0)


def test_validation_data_is_checked():
    model = make_model()
    before = weights_snapshot(model)
    with pytest.raises(ValueError, match=re.escape("max=255")):
        model.fit(images(), epochs=1, verbose=0, validation_data=(images() * 255,))
    assert_untrained(model, before)
    dataset = tf.data.Dataset.from_tensor_slices(images() * 3).batch(8)
    with pytest.raises(ValueError, match=re.escape("max=3 at batch 0.")):
        model.fit(images(), epochs=1, verbose=0, validation_data=dataset)


def test_generator_input_is_checked_inside_the_step():
    def batches():
        for i in range(4):
            yield (images(8, seed=i) * (255.0 if i == 1 else 1.0),)

    model = make_model()
    with pytest.raises(ValueError, match=re.escape("max=255 at epoch 0, batch 1.")):
        model.fit(batches(), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 1


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "encode", "log_likelihood"])
def test_empty_array(method):
    # Today: numpy's "zero-size array to reduction operation minimum".
    model = make_model()
    empty = np.zeros((0,) + SHAPE, "float32")
    with pytest.raises(ValueError, match=re.escape("at least one example")) as info:
        if method in ("fit", "evaluate", "predict"):
            getattr(model, method)(empty, verbose=0)
        else:
            getattr(model, method)(empty)
    assert "x.shape=(0, 8, 8, 1)" in str(info.value)


@pytest.mark.parametrize("build", [False, True])
def test_unbatched_dataset(build):
    # Today, unbuilt: trains on image rows with data_shape=(8, 1).
    dataset = tf.data.Dataset.from_tensor_slices(images()).map(lambda x: x).prefetch(2)
    model = make_model(build=build)
    with pytest.raises(ValueError, match=re.escape(".batch(32)")) as info:
        model.fit(dataset, epochs=1, verbose=0)
    assert "(8, 8, 1)" in str(info.value)
    if build:
        for method in (model.evaluate, model.predict):
            with pytest.raises(ValueError, match=re.escape(".batch(32)")):
                method(dataset, verbose=0)
    else:
        assert not model.built or model.data_shape == SHAPE


def test_batched_datasets_are_accepted_unbuilt():
    # Batched pipelines, with or without a fixed batch size, build the model.
    for dataset in (
        tf.data.Dataset.from_tensor_slices(images()).batch(8, drop_remainder=True).map(lambda x: x),
        tf.data.Dataset.from_tensor_slices(images()).batch(8).unbatch().batch(16),
    ):
        model = make_model(build=False)
        model.fit(dataset, epochs=1, verbose=0)
        assert model.data_shape == SHAPE


def test_sample_weight_without_y():
    # Today: silently ignored.
    model = make_model()
    before = weights_snapshot(model)
    for call in (
        lambda: model.fit(images(), sample_weight=np.ones(32), epochs=1, verbose=0),
        lambda: model.evaluate(images(), sample_weight=np.ones(32), verbose=0),
        lambda: model.train_on_batch(images(), sample_weight=np.ones(32)),
    ):
        with pytest.raises(ValueError, match=re.escape("Expected no `sample_weight`")) as info:
            call()
        assert "shape (32,)" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("Expected no `class_weight`")):
        model.fit(images(), class_weight={0: 1.0}, epochs=1, verbose=0)
    assert_untrained(model, before)


def test_non_numeric_dataset():
    dataset = tf.data.Dataset.from_tensor_slices(np.array([["a"] * 4] * 8)).batch(4)
    with pytest.raises(ValueError, match=re.escape("x.dtype=string")):
        make_model(build=False).fit(dataset, epochs=1, verbose=0)


def test_gaussian_likelihood_accepts_any_finite_value_but_not_nan():
    model = make_model(likelihood="gaussian")
    x = images() * 255 - 100
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4
    x[9, 1, 1, 0] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("non-finite values (NaN or inf) at epoch 0, batch 1.")
    ):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 5
