"""An interrupted `fit` on a `keras_vae.datasets.load` stream resumes bit-identically.

The consumer's path: `fit` for 4 epochs on `load("digits", "train",
binarization="dynamic", batch_size=..., seed=...)` (shuffled, with fresh
Bernoulli noise every epoch), validated on a shuffled, dynamically binarized
`load("digits", "validation", ...)` stream, with
`keras.callbacks.BackupAndRestore` dies at the start of epoch 2
(`InterruptAt`, as a pre-empted job would); a new model on newly loaded
streams, under another global seed, resumes from the backup to epoch 4. Its
weights and optimizer state must equal those of an uninterrupted 4-epoch run
bit for bit, and so must the logs of epochs 2 and 3, validation metrics
included: the training stream must serve epochs 2 and 3 as the
uninterrupted run saw them, not replay epochs 0 and 1, and the validation
stream the same pass at every epoch.

The other tests check what makes that possible without losing the point of
shuffling and dynamic binarization: every pass is a new permutation (numpy
oracle) with new noise, a function of the `load` seed and the pass's key
only, and `fit` keys each epoch to the model's step count.
"""

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae import datasets
from keras_vae.testing.interrupt_at import InterruptAt
from keras_vae.testing.interrupt_at import Interrupted

EPOCHS, INTERRUPT_AT, BATCH, SEED = 4, 2, 256, 3  # 6 batches per epoch


def _keys(stream):
    """The stream's `PassKeys` (imported here: the resume test must run,
    and fail, on code without them)."""
    from keras_vae.datasets.pass_keys import pass_keys_of

    return pass_keys_of(stream)


def _stream():
    return datasets.load("digits", "train", binarization="dynamic", batch_size=BATCH, seed=SEED)


def _validation_stream():
    """Random on purpose: shuffled, and binarized afresh on every unkeyed pass."""
    return datasets.load(
        "digits", "validation", binarization="dynamic", shuffle=True, batch_size=100, seed=SEED
    )


def _vae(global_seed=1337, **compile_kwargs):
    keras.backend.clear_session()
    keras.utils.set_random_seed(global_seed)
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(16,), seed=0)
    # Eager steps: no tracing, the same state to carry over.
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), **(compile_kwargs or {"run_eagerly": True})
    )
    return model


def _vae_compiled(global_seed=1337):
    """The defaults: XLA, 25 steps per execution."""
    return _vae(global_seed, jit_compile="auto")


def _autoencoder(global_seed=1337):
    """A plain Keras model: it needs `SeedDatasetEpochs` in its callbacks."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(global_seed)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(64),
            keras.layers.Reshape((8, 8, 1)),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", run_eagerly=True)
    return model


def _fit_input(model, stream):
    if isinstance(model, keras_vae.models.VAE):
        return stream
    return stream.map(lambda x: (x, x))  # what a user's plain autoencoder is fed


def _extra_callbacks(model, stream, validation=None):
    if isinstance(model, keras_vae.models.VAE):
        return []  # a keras_vae model's `fit` adds it for `load` streams
    if validation is None:
        return [keras_vae.callbacks.SeedDatasetEpochs(stream)]
    return [keras_vae.callbacks.SeedDatasetEpochs(stream, validation_data=validation)]


def _fit(model, callbacks=()):
    """`fit` on newly loaded streams, as a (re)run script does."""
    stream, validation = _stream(), _validation_stream()
    return model.fit(
        _fit_input(model, stream),
        validation_data=_fit_input(model, validation),
        epochs=EPOCHS,
        callbacks=_extra_callbacks(model, stream, validation) + list(callbacks),
        verbose=0,
    )


def _state(model):
    state = {f"weight {w.path}": np.array(w) for w in model.weights}
    state.update({f"optimizer {v.path}": np.array(v) for v in model.optimizer.variables})
    return state


def _differences(actual, expected):
    assert actual.keys() == expected.keys()
    return [
        f"{key}: max |diff| {np.max(np.abs(actual[key].astype('float64') - expected[key])):.3g}"
        for key in expected
        if not np.array_equal(actual[key], expected[key])
    ]


@pytest.mark.parametrize(
    "new_model",
    [_vae, _autoencoder, pytest.param(_vae_compiled, marks=pytest.mark.large)],
    ids=["VAE", "keras.Sequential", "VAE-xla"],
)
def test_interrupted_fit_on_a_load_stream_resumes_bit_identical(new_model, tmp_path):
    reference = new_model()
    expected_logs = _fit(reference).history
    expected = _state(reference)

    backup = str(tmp_path / "backup")
    first = new_model()
    with pytest.raises(Interrupted):
        _fit(first, [keras.callbacks.BackupAndRestore(backup), InterruptAt(INTERRUPT_AT)])

    # A rerun script builds a new model and loads the streams again; another
    # global seed shows that neither the streams nor the model depend on it.
    resumed = new_model(4242)
    history = _fit(resumed, [keras.callbacks.BackupAndRestore(backup)])
    assert history.epoch == list(range(INTERRUPT_AT, EPOCHS))
    different = _differences(_state(resumed), expected)
    assert not different, "resumed differs from uninterrupted:\n" + "\n".join(different)
    assert "val_loss" in history.history
    assert history.history == {k: v[INTERRUPT_AT:] for k, v in expected_logs.items()}


# ------------------------------------------------------------ the passes


def _order(stream_pass, raw):
    """The permutation `p` with `stream_pass == raw[p]` (rows are unique)."""
    where = {row.tobytes(): i for i, row in enumerate(raw)}
    assert len(where) == len(raw)
    return np.array([where[row.tobytes()] for row in stream_pass])


def _passes(dataset, count):
    """`count` successive passes, each as one array."""
    it = iter(dataset.repeat(count))
    per_pass = len(dataset)
    return [np.concatenate([np.asarray(next(it)) for _ in range(per_pass)]) for _ in range(count)]


def test_every_pass_is_a_new_uniform_permutation():
    raw = datasets.load("digits", "train", binarization=None, as_numpy=True)
    stream = datasets.load("digits", "train", binarization=None, batch_size=500, seed=SEED)
    passes = 100
    orders = np.stack([_order(p, raw) for p in _passes(stream, passes)])
    n = len(raw)
    np.testing.assert_array_equal(np.sort(orders, axis=1), np.tile(np.arange(n), (passes, 1)))
    assert len({o.tobytes() for o in orders}) == passes  # all different
    # Position of each example, uniform on 0..n-1: mean (n-1)/2, variance
    # (n^2-1)/12 per pass; its mean over the passes within 5 standard errors.
    positions = np.argsort(orders, axis=1)
    stderr = np.sqrt((n**2 - 1) / 12 / passes)
    assert np.max(np.abs(positions.mean(0) - (n - 1) / 2)) < 5 * stderr
    # Which of two examples comes first: a fair coin, independently per pass.
    first = (positions[:, :1] < positions[:, 1:]).mean(0)
    assert np.max(np.abs(first - 0.5)) < 5 * 0.5 / np.sqrt(passes)


def test_dynamic_noise_is_new_every_pass_and_follows_the_order():
    raw = datasets.load("digits", "train", binarization=None, as_numpy=True)
    kwargs = dict(batch_size=500, seed=SEED)
    orders = [
        _order(p, raw)
        for p in _passes(datasets.load("digits", "train", binarization=None, **kwargs), 2)
    ]
    binary = _passes(datasets.load("digits", "train", binarization="dynamic", **kwargs), 2)
    # Same seed: the binarized stream has the same order, a binarization of
    # the same images (0 and 1 where the intensity is 0 and 1).
    for order, sample in zip(orders, binary):
        assert set(np.unique(sample).tolist()) == {0.0, 1.0}
        np.testing.assert_array_equal(sample[raw[order] == 0], 0.0)
        np.testing.assert_array_equal(sample[raw[order] == 1], 1.0)
    # In split order, two passes differ where independent draws differ:
    # a fraction mean(2 p (1 - p)).
    first, second = (sample[np.argsort(order)] for order, sample in zip(orders, binary))
    expected = np.mean(2 * raw * (1 - raw))
    assert abs(np.mean(first != second) - expected) < 0.01


@pytest.mark.parametrize("batch_size", [None, 100])
def test_a_pass_is_a_function_of_the_seed_and_its_key(batch_size):
    def keyed_pass(seed, base, global_seed):
        keras.utils.set_random_seed(global_seed)  # no say in the stream
        stream = datasets.load("digits", "train", batch_size=batch_size, seed=seed, flatten=True)
        for _ in range(3):
            next(iter(stream))  # earlier passes: the key below overrides them
        _keys(stream).start_epoch(base)
        whole_pass = stream.batch(2000) if batch_size is None else stream.unbatch().batch(2000)
        return np.asarray(next(iter(whole_pass)))

    reference = keyed_pass(SEED, 12, 0)
    np.testing.assert_array_equal(keyed_pass(SEED, 12, 1), reference)
    assert not np.array_equal(keyed_pass(SEED, 13, 0), reference)
    assert not np.array_equal(keyed_pass(SEED + 1, 12, 0), reference)


def test_unkeyed_passes_repeat_from_a_new_load():
    def two_passes():
        return _passes(datasets.load("digits", "train", batch_size=256, seed=SEED), 2)

    a, b = two_passes(), two_passes()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


# ------------------------------------------------------------ under fit


class _Recorder(keras.Model):
    """Records the batches `fit` feeds it, per epoch (eager steps)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.epochs = []
        self.validations = []

    def call(self, x):
        return self.dense(keras.ops.reshape(x, (-1, 64)))

    def train_step(self, x):
        self.epochs[-1].append(np.asarray(x))
        return super().train_step((x, keras.ops.zeros((keras.ops.shape(x)[0], 1))))

    def test_step(self, x):
        self.validations[-1].append(np.asarray(x))
        return super().test_step((x, keras.ops.zeros((keras.ops.shape(x)[0], 1))))


class _NewEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.model.epochs.append([])

    def on_test_begin(self, logs=None):
        self.model.validations.append([])


def test_fit_gets_new_data_every_epoch_and_every_call():
    stream = datasets.load("digits", "train", batch_size=256, seed=SEED)
    model = _Recorder()
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    callbacks = [keras_vae.callbacks.SeedDatasetEpochs(stream), _NewEpoch()]
    model.fit(stream, epochs=2, callbacks=callbacks, verbose=0)
    model.fit(stream, epochs=1, callbacks=callbacks, verbose=0)  # epoch index 0 again
    epochs = [np.concatenate(e) for e in model.epochs]
    assert [len(e) for e in epochs] == [1297] * 3
    for i in range(3):
        for j in range(i):
            assert not np.array_equal(epochs[i], epochs[j]), (i, j)
    # Each epoch is the pass keyed by the step count at its start.
    for epoch, step in zip(epochs, (0, 6, 12)):
        twin = datasets.load("digits", "train", batch_size=256, seed=SEED)
        _keys(twin).start_epoch(step)
        np.testing.assert_array_equal(epoch, np.concatenate([np.asarray(x) for x in twin]))


def test_fit_validates_on_one_pass_keyed_by_the_seed():
    stream = datasets.load("digits", "train", batch_size=256, seed=SEED)
    validation = _validation_stream()
    model = _Recorder()
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    callbacks = [
        keras_vae.callbacks.SeedDatasetEpochs(stream, validation_data=validation),
        _NewEpoch(),
    ]
    model.fit(stream, validation_data=validation, epochs=2, callbacks=callbacks, verbose=0)
    passes = [np.concatenate(v) for v in model.validations]
    assert [len(p) for p in passes] == [200] * 2
    np.testing.assert_array_equal(passes[1], passes[0])
    # The pass keyed (seed, -2, 0), not one of the unkeyed passes.
    twin = _validation_stream()
    _keys(twin).start_validation()
    np.testing.assert_array_equal(passes[0], np.concatenate([np.asarray(x) for x in twin]))
    assert not any(np.array_equal(passes[0], p) for p in _passes(_validation_stream(), 3))
    # Training epochs are still keyed by the step count alone.
    for epoch, step in zip(model.epochs, (0, 6)):
        twin = datasets.load("digits", "train", batch_size=256, seed=SEED)
        _keys(twin).start_epoch(step)
        np.testing.assert_array_equal(
            np.concatenate(epoch), np.concatenate([np.asarray(x) for x in twin])
        )


def test_a_keras_vae_model_keys_a_load_stream_by_itself():
    stream = datasets.load("digits", "train", batch_size=256, seed=SEED)
    model = _vae()
    model.fit(stream, epochs=2, verbose=0)
    assert int(_keys(stream).base.numpy()) == 6  # epoch 1 started at step 6
    # The user's own callback for the stream is not doubled.
    own = keras_vae.callbacks.SeedDatasetEpochs(stream)
    model.fit(stream, epochs=1, callbacks=[own], verbose=0)
    assert int(_keys(stream).base.numpy()) == 12
    # And its validation stream: keyed (seed, -2, 0) before each validation
    # run (the validation pass then takes count 0).
    validation = _validation_stream()
    model.fit(stream, validation_data=validation, epochs=1, verbose=0)
    assert int(_keys(validation).base.numpy()) == -2
    assert int(_keys(validation).count.numpy()) == 1


def test_seed_dataset_epochs_errors():
    stream = datasets.load("digits", "train", batch_size=256)
    with pytest.raises(ValueError, match="Expected a tf.data.Dataset returned by"):
        keras_vae.callbacks.SeedDatasetEpochs(stream.map(lambda x: x))
    with pytest.raises(ValueError, match="Received: ndarray"):
        keras_vae.callbacks.SeedDatasetEpochs(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="Received: ndarray"):
        keras_vae.callbacks.SeedDatasetEpochs(stream, validation_data=np.zeros((2, 64)))
    model = _autoencoder()
    restored = keras_vae.callbacks.SeedDatasetEpochs.from_config({})
    with pytest.raises(ValueError, match="Received: dataset=None"):
        model.fit(stream.map(lambda x: (x, x)), epochs=1, callbacks=[restored], verbose=0)
    # A validation stream alone (training on arrays).
    validation = _validation_stream()
    model.fit(
        np.zeros((8, 8, 8, 1)),
        np.zeros((8, 8, 8, 1)),
        validation_data=validation.map(lambda x: (x, x)),
        epochs=1,
        callbacks=[keras_vae.callbacks.SeedDatasetEpochs(validation_data=validation)],
        verbose=0,
    )
    assert int(_keys(validation).base.numpy()) == -2
    # A stream without randomness is accepted and left as it is.
    test = datasets.load("digits", "test", batch_size=100)
    assert _keys(test) is None
    model.fit(
        test.map(lambda x: (x, x)),
        epochs=1,
        callbacks=[keras_vae.callbacks.SeedDatasetEpochs(test)],
        verbose=0,
    )
