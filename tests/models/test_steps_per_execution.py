"""Batch indices and the progress bar at the default `steps_per_execution`.

keras_vae compiles with 25 steps per execution. Keras 3.15 reports the end of
each execution as batch `begin + 24`, past the epoch's end: a 13-batch epoch
printed `25/13 ... -1s` and its callbacks saw batch 24. The models' `fit`,
`evaluate` and `predict` report the last batch each execution really ran.

Oracle: the epoch has `ceil(N / batch_size)` batches, and an execution that
begins at batch b ends at batch `min(b + 25, batches) - 1`. The data is the
README tour's (`digits`, 1297 rows): 13 batches of 100, and 65 of 20.
"""

import json
import math
import os
import re

import keras
import pytest
import tensorflow as tf

import keras_vae

SPE = 25  # `Autoencoder.default_steps_per_execution`


@pytest.fixture(scope="module")
def digits():
    return keras_vae.datasets.load("digits", "train", binarization=None, as_numpy=True)


def _model(**compile_kwargs):
    model = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    # XLA does not change what is counted; without it the tests compile fast.
    model.compile(optimizer="adam", **{"jit_compile": False, **compile_kwargs})
    assert model.steps_per_execution == compile_kwargs.get("steps_per_execution", SPE)
    return model


def _ends(batches, spe=SPE):
    """The true last batch of each execution of an epoch of `batches`."""
    return [min(b + spe, batches) - 1 for b in range(0, batches, spe)]


def _begins(batches, spe=SPE):
    return list(range(0, batches, spe))


class Recorder(keras.callbacks.Callback):
    """Records every batch index a callback receives, per hook."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("train_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("train", batch))

    def on_test_batch_begin(self, batch, logs=None):
        self.events.append(("test_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("test", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(("predict", batch))

    def of(self, hook):
        return [b for h, b in self.events if h == hook]


def _counts(text):
    """The `seen/target` pairs a progress bar printed."""
    return [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) ", _plain(text))]


def _plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("batch_size", [100, 20])
def test_fit_callbacks_get_the_true_batches(digits, batch_size):
    batches = math.ceil(len(digits) / batch_size)  # 13 or 65
    val = digits[:250]
    val_batches = math.ceil(len(val) / batch_size)
    recorder = Recorder()
    model = _model()
    model.fit(
        digits,
        epochs=2,
        batch_size=batch_size,
        validation_data=val,
        callbacks=[recorder],
        verbose=0,
    )
    train_events = [("train_begin", b) for b in _begins(batches)]
    train_events = [
        e for pair in zip(train_events, [("train", b) for b in _ends(batches)]) for e in pair
    ]
    test_events = [("test_begin", 0), ("test", val_batches - 1)]
    epoch = train_events + test_events
    assert recorder.events == [("epoch", 0)] + epoch + [("epoch", 1)] + epoch
    assert max(recorder.of("train")) == batches - 1


def test_validation_freq_and_steps_per_execution_one(digits):
    # validation_freq=2: only the second epoch validates. One step per
    # execution: every batch ends, as in Keras.
    recorder = Recorder()
    model = _model(steps_per_execution=1)
    model.fit(
        digits[:500],
        epochs=2,
        batch_size=100,
        validation_data=digits[:300],
        validation_freq=2,
        callbacks=[recorder],
        verbose=0,
    )
    assert recorder.of("train") == [0, 1, 2, 3, 4] * 2
    assert recorder.of("test") == [0, 1, 2]


@pytest.mark.parametrize("batch_size", [100, 20])
def test_fit_progress_bar_counts_the_true_batches(digits, batch_size, capsys):
    batches = math.ceil(len(digits) / batch_size)
    model = _model()
    model.fit(digits, epochs=2, batch_size=batch_size, verbose=1)
    out = _plain(capsys.readouterr().out)
    counts = _counts(out)
    assert (batches, batches) in counts, out
    assert all(seen <= target == batches for seen, target in counts), out
    assert {seen for seen, _ in counts} <= {b + 1 for b in _ends(batches)}, out
    assert not re.search(r"\s-\d+s", out), out  # no negative ETA
    assert "Epoch 2/2" in out


def test_readme_tour_progress_bar(digits, capsys):
    # The README's `fit(x_train, epochs=1, batch_size=100)` at the full
    # default compile (XLA, 25 steps per execution); verbose=2 prints the
    # epoch's line.
    model = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert (model.steps_per_execution, model.jit_compile) == (SPE, True)
    recorder = Recorder()
    model.fit(digits, epochs=1, batch_size=100, callbacks=[recorder])
    out = _plain(capsys.readouterr().out)
    assert _counts(out) and set(_counts(out)) == {(13, 13)}, out
    assert recorder.of("train") == [12]
    model.fit(digits, epochs=1, batch_size=100, verbose=2)
    out = _plain(capsys.readouterr().out)
    assert out.startswith("13/13 - "), out


def test_evaluate_and_predict_batches_and_progress_bar(digits, capsys):
    model = _model()
    recorder = Recorder()
    model.evaluate(digits, batch_size=20, callbacks=[recorder], verbose=1)
    out = capsys.readouterr().out
    assert recorder.of("test") == _ends(65)
    assert (65, 65) in _counts(out) and max(t for _, t in _counts(out)) == 65, out
    model.predict(digits, batch_size=100, callbacks=[recorder], verbose=1)
    out = capsys.readouterr().out
    assert recorder.of("predict") == [12]
    assert set(_counts(out)) == {(13, 13)}, out


def _generator(x, batch_size):
    for i in range(0, len(x), batch_size):
        yield (x[i : i + batch_size],)  # Keras wants a tuple


def test_data_of_unknown_length(digits, capsys):
    # A generator has no length and a filtered dataset no cardinality: the
    # indices come from the steps run, and the bar ends at the true count.
    model = _model()
    recorder = Recorder()
    model.fit(_generator(digits, 20), epochs=1, callbacks=[recorder], verbose=1)
    out = capsys.readouterr().out
    assert recorder.of("train") == _ends(65)
    assert _counts(out)[-1] == (65, 65), out
    unknown = tf.data.Dataset.from_tensor_slices(digits).batch(20).filter(lambda x: True)
    assert int(unknown.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    model.evaluate(unknown, callbacks=[recorder], verbose=0)
    assert recorder.of("test") == _ends(65)
    model.predict(_generator(digits, 100), callbacks=[recorder], verbose=0)
    assert recorder.of("predict") == [12]


def test_backup_and_restore_saves_true_batches(digits, tmp_path):
    # BackupAndRestore(save_freq=N) counts batches from the indices it gets
    # and writes the last one with each backup.
    backup = str(tmp_path / "backup")
    saved = []

    class ReadBackup(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            path = os.path.join(backup, "training_metadata.json")
            if os.path.exists(path):
                with open(path) as f:
                    saved.append(json.load(f)["batch"])

    model = _model()
    model.fit(
        digits,
        epochs=2,
        batch_size=100,
        callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=10), ReadBackup()],
        verbose=0,
    )
    assert saved == [12, 12]


def test_a_callback_list_of_the_user(digits):
    recorder = Recorder()
    model = _model()
    # As Keras requires of one: `fit` returns `model.history`.
    callbacks = keras.callbacks.CallbackList([recorder], add_history=True, model=model)
    model.fit(digits, epochs=1, batch_size=20, callbacks=callbacks, verbose=0)
    assert recorder.of("train") == _ends(65)
