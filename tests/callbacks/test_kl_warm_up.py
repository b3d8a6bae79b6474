"""KLWarmUp: the beta ramp during fit, across BackupAndRestore and .keras I/O."""

import os

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.testing.interrupt_at import InterruptAt

RAMP_EPOCHS = 4


def _data():
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(64, 8, 8, 1)) < 0.5).astype("float32")


def _vae():
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(16,), seed=1)
    model.compile(optimizer="adam", jit_compile=True)
    return model


class _RecordBeta(keras.callbacks.Callback):
    """Reads the model's beta variable at the first batch of every epoch."""

    def __init__(self):
        super().__init__()
        self.values = {}
        self._epoch = None
        self.at_train_begin = None

    def on_train_begin(self, logs=None):
        self.at_train_begin = (
            float(self.model.beta.numpy()),
            [w.numpy() for w in self.model.trainable_weights],
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.values[self._epoch] = float(self.model.beta.numpy())


class KLWarmUpTest(testing.TestCase):
    def test_value_schedule(self):
        warm_up = keras_vae.callbacks.KLWarmUp(4)
        self.assertEqual([warm_up.value(e) for e in range(6)], [0, 0.25, 0.5, 0.75, 1, 1])
        shifted = keras_vae.callbacks.KLWarmUp(2, max_value=0.5, start_epoch=3)
        self.assertEqual([shifted.value(e) for e in range(7)], [0, 0, 0, 0, 0.25, 0.5, 0.5])

    def test_ramp_during_fit_then_save_load_then_resume(self):
        x = _data()
        model, record = _vae(), _RecordBeta()
        warm_up = keras_vae.callbacks.KLWarmUp(RAMP_EPOCHS)
        history = model.fit(x, epochs=3, batch_size=32, callbacks=[warm_up, record], verbose=0)
        # The beta metric is read inside the compiled step: a beta frozen into
        # the XLA program would report the same value every epoch.
        self.assertAllClose(history.history["beta"], [0.0, 0.25, 0.5])
        self.assertEqual(record.values, {0: 0.0, 1: 0.25, 2: 0.5})
        # The KL term enters the loss with weight beta: at beta = 0 the loss
        # is the negative reconstruction alone.
        h = history.history
        self.assertAllClose(h["loss"][0], -h["reconstruction"][0], rtol=1e-5)
        self.assertGreater(h["kl"][0], 0.0)

        # Mid-ramp, beta (0.5) differs from the configured initial value
        # (1.0): it must come back from the weights, not the config.
        path = os.path.join(self.get_temp_dir(), "vae.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(loaded.get_config()["beta"], 1.0)
        self.assertAllClose(loaded.beta.numpy(), 0.5)
        self.assertAllClose(loaded.encode(x[:4])[0], model.encode(x[:4])[0])

        # A later fit with initial_epoch continues the ramp to max_value.
        history = model.fit(
            x,
            initial_epoch=3,
            epochs=6,
            batch_size=32,
            callbacks=[warm_up, record],
            verbose=0,
        )
        self.assertAllClose(history.history["beta"], [0.75, 1.0, 1.0])
        self.assertEqual([record.values[e] for e in range(6)], [0, 0.25, 0.5, 0.75, 1, 1])

    def test_backup_and_restore_resumes_the_ramp(self):
        x = _data()
        backup_dir = os.path.join(self.get_temp_dir(), "backup")
        model = _vae()

        def callbacks(*extra):
            return [
                keras.callbacks.BackupAndRestore(backup_dir),
                keras_vae.callbacks.KLWarmUp(RAMP_EPOCHS),
                *extra,
            ]

        first = _RecordBeta()
        with pytest.raises(RuntimeError, match="interrupted at epoch 3"):
            model.fit(
                x,
                epochs=6,
                batch_size=32,
                callbacks=callbacks(first, InterruptAt(3)),
                verbose=0,
            )
        self.assertEqual(first.values, {0: 0.0, 1: 0.25, 2: 0.5})
        self.assertTrue(os.path.exists(backup_dir))
        # Scramble what the crash left in memory: the restore must undo it.
        # (KLWarmUp had already set beta = 0.75 for epoch 3 when it crashed.)
        self.assertAllClose(model.beta.numpy(), 0.75)
        weights = [w.numpy() for w in model.trainable_weights]
        model.beta.assign(123.0)
        for w in model.trainable_weights:
            w.assign(w.numpy() + 1.0)

        second = _RecordBeta()
        history = model.fit(x, epochs=6, batch_size=32, callbacks=callbacks(second), verbose=0)
        # BackupAndRestore (first in the list) restored the end of epoch 2.
        beta, restored = second.at_train_begin
        self.assertAllClose(beta, 0.5)
        self.assertEqual(len(restored), len(weights))
        for w_restored, w_saved in zip(restored, weights):
            self.assertAllClose(w_restored, w_saved, rtol=0, atol=0)
        self.assertAllClose(model.beta.numpy(), 1.0)
        # Epochs 3, 4, 5 only, with the ramp where it left off.
        self.assertEqual(sorted(second.values), [3, 4, 5])
        self.assertEqual([second.values[e] for e in (3, 4, 5)], [0.75, 1.0, 1.0])
        self.assertAllClose(history.history["beta"], [0.75, 1.0, 1.0])

    def test_config_round_trip(self):
        warm_up = keras_vae.callbacks.KLWarmUp(5, max_value=0.5, start_epoch=2)
        clone = keras_vae.callbacks.KLWarmUp(**warm_up.get_config())
        self.assertEqual(clone.get_config(), warm_up.get_config())
        self.assertEqual([clone.value(e) for e in range(8)], [warm_up.value(e) for e in range(8)])

    def test_model_without_beta_raises(self):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="needs a model with a `beta` variable"):
            model.fit(
                np.zeros((4, 2)),
                np.zeros((4, 1)),
                epochs=1,
                verbose=0,
                callbacks=[keras_vae.callbacks.KLWarmUp(2)],
            )


@pytest.mark.parametrize("epochs", [0, -1, 1.5])
def test_bad_epochs_raise(epochs):
    with pytest.raises(ValueError, match="Expected `epochs` to be a positive integer"):
        keras_vae.callbacks.KLWarmUp(epochs)


def test_negative_max_value_raises():
    with pytest.raises(ValueError, match="max_value=-1"):
        keras_vae.callbacks.KLWarmUp(3, max_value=-1.0)
