"""The input pipeline of `fit`/`evaluate`/`predict`: Keras's batches, no autotuner.

The oracle of the model-level tests is Keras itself: the same model trained
through `keras.Model.fit` (Keras's array adapter, bypassing our override)
must end bit-identical to one trained through `Autoencoder.fit`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae
from keras_vae.utils import input_pipeline


def _epochs(dataset, count):
    iterator_per_epoch = [list(dataset.as_numpy_iterator()) for _ in range(count)]
    return [np.concatenate(batches) for batches in iterator_per_epoch]


def test_array_dataset_batches_in_order_with_remainder():
    x = np.arange(14.0).reshape(7, 2)
    batches = list(input_pipeline.array_dataset(x, 3).as_numpy_iterator())
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), x)


def test_array_dataset_shuffles_every_row_once_per_epoch():
    x = np.arange(200.0)
    first, second = _epochs(input_pipeline.array_dataset(x, 16, shuffle=True), 2)
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(epoch), x)
    assert not np.array_equal(first, x)
    assert not np.array_equal(first, second)


def test_array_dataset_defaults_to_keras_batch_size_and_checks_it():
    assert [len(b) for b in input_pipeline.array_dataset(np.zeros((40, 1)))] == [32, 8]
    with pytest.raises(ValueError, match="Expected `batch_size` >= 1"):
        input_pipeline.array_dataset(np.zeros((4, 1)), 0)


def test_autotune_off_unless_the_user_chose():
    dataset = tf.data.Dataset.range(4).batch(2)
    assert dataset.options().autotune.enabled is None
    assert input_pipeline.without_autotune(dataset).options().autotune.enabled is False
    assert input_pipeline.array_dataset(np.zeros((4, 1))).options().autotune.enabled is False
    options = tf.data.Options()
    options.autotune.enabled = True
    theirs = dataset.with_options(options)
    assert input_pipeline.without_autotune(theirs).options().autotune.enabled is True


def _twin_vaes():
    def make():
        model = keras_vae.models.VAE(latent_dim=2, hidden_units=8, seed=3)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
        model.build((None, 6))
        return model

    return make(), make()


def _assert_same_weights(ours, keras_model):
    for a, b in zip(ours.weights, keras_model.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.fixture
def x_train():
    return np.random.default_rng(0).uniform(size=(70, 6)).astype("float32")


def test_fit_on_arrays_matches_keras_array_adapter(x_train):
    ours, reference = _twin_vaes()
    arguments = dict(batch_size=16, epochs=2, shuffle=False, validation_split=0.3, verbose=0)
    history = ours.fit(x_train, **arguments).history
    expected = keras.Model.fit(reference, x_train, **arguments).history
    assert history.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(history[name], expected[name], err_msg=name)
    _assert_same_weights(ours, reference)


def test_fit_with_validation_arrays_and_batch_size_matches_keras(x_train):
    ours, reference = _twin_vaes()
    arguments = dict(
        batch_size=32,
        validation_data=(x_train[:20],),
        validation_batch_size=7,
        shuffle=False,
        verbose=0,
    )
    history = ours.fit(x_train, **arguments).history
    expected = keras.Model.fit(reference, x_train, **arguments).history
    np.testing.assert_array_equal(history["val_loss"], expected["val_loss"])


def test_evaluate_and_predict_on_arrays_match_keras(x_train):
    ours, reference = _twin_vaes()
    np.testing.assert_array_equal(
        ours.evaluate(x_train, batch_size=16, verbose=0),
        keras.Model.evaluate(reference, x_train, batch_size=16, verbose=0),
    )
    ours_out = ours.predict(x_train, batch_size=16, verbose=0)
    expected_out = keras.Model.predict(reference, x_train, batch_size=16, verbose=0)
    for a, b in zip(keras.tree.flatten(ours_out), keras.tree.flatten(expected_out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_shuffles_arrays_each_epoch(x_train):
    """`shuffle=True` (the default) still reshuffles: two epochs of SGD on a
    shuffled order end elsewhere than on the fixed order."""
    shuffled, fixed = _twin_vaes()
    shuffled.fit(x_train, batch_size=16, epochs=2, verbose=0)
    fixed.fit(x_train, batch_size=16, epochs=2, shuffle=False, verbose=0)
    differ = [
        not np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        for a, b in zip(shuffled.weights, fixed.weights, strict=True)
    ]
    assert any(differ)
