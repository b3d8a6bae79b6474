"""Keras's `EarlyStopping(restore_best_weights=True)` combined with `KLWarmUp`.

The best epoch's weights come back; `beta` (schedule state) stays at the
value of the last epoch trained, so the final model's `evaluate` and a
further `fit` use the schedule's beta, not the one of the best epoch.
"""

import keras
import numpy as np

import keras_vae

WARM_UP = 4  # beta = epoch / 4: 0, 0.25, 0.5, 0.75, 1.0
SCORES = [5.0, 1.0, 2.0, 3.0, 4.0]  # epoch 1 (beta 0.25) is the best


class _Score(keras.callbacks.Callback):
    """Puts a fixed per-epoch score into the logs and records the weights."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = SCORES[epoch]
        self.weights.append([np.array(w) for w in self.model.trainable_weights])


def _data():
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(16, 4, 4, 1)) < 0.5).astype("float32")


def _compiled_vae():
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=1)
    # No XLA (~5 s a model): the callbacks run on the host between
    # executions; every model's XLA training is the conformance suite's.
    model.compile(optimizer="adam", jit_compile=False)
    return model


def test_restore_best_weights_keeps_the_schedules_beta():
    x = _data()
    model = _compiled_vae()
    score = _Score()
    stop = keras.callbacks.EarlyStopping(
        monitor="score", mode="min", patience=10, restore_best_weights=True
    )
    warm_up = keras_vae.callbacks.KLWarmUp(WARM_UP)
    # Either order of the callbacks: EarlyStopping restores in on_train_end.
    model.fit(x, epochs=5, batch_size=8, verbose=0, callbacks=[score, stop, warm_up])
    for restored, best in zip(model.trainable_weights, score.weights[1]):
        np.testing.assert_array_equal(np.array(restored), best)
    assert float(model.beta) == warm_up.value(4) == 1.0  # not 0.25, the best epoch's


def test_beta_of_the_last_epoch_with_the_warm_up_first():
    x = _data()
    model = _compiled_vae()
    stop = keras.callbacks.EarlyStopping(
        monitor="score", mode="min", patience=10, restore_best_weights=True
    )
    warm_up = keras_vae.callbacks.KLWarmUp(WARM_UP)
    model.fit(x, epochs=3, batch_size=8, verbose=0, callbacks=[warm_up, _Score(), stop])
    assert float(model.beta) == warm_up.value(2) == 0.5


def test_val_elbo_is_monitored_with_mode_max():
    # The documented setup: the bound, maximized, not the beta-weighted loss.
    x = _data()
    model = _compiled_vae()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_elbo", mode="max", patience=1, restore_best_weights=True
    )
    history = model.fit(
        x[:8],
        validation_data=(x[8:],),
        epochs=3,
        batch_size=8,
        verbose=0,
        callbacks=[keras_vae.callbacks.KLWarmUp(2), stop],
    )
    assert "val_elbo" in history.history and "val_loss" in history.history
    best = int(np.argmax(history.history["val_elbo"]))
    assert stop.best == history.history["val_elbo"][best]
