"""`VAE` fails fast, and says what it received (DESIGN.md Convention 4).

Also: a loss that turns non-finite mid-training stops `fit` with
`NonFiniteLossError`, and the bad step's update is skipped.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.callbacks import NonFiniteLossError
from keras_vae.models import VAE

SHAPE = (8, 8, 1)


def binary(n, seed=0, shape=SHAPE):
    return (np.random.default_rng(seed).random((n,) + shape) < 0.5).astype("float32")


def small_vae(**kwargs):
    kwargs.setdefault("latent_dim", 2)
    kwargs.setdefault("hidden_units", (16,))
    return VAE(seed=0, **kwargs)


def small_decoder(shape):
    units = int(np.prod(shape))
    return keras.Sequential([keras.layers.Dense(units), keras.layers.Reshape(shape)])


@pytest.fixture(scope="module")
def fitted():
    model = small_vae()
    model.compile(optimizer="adam", jit_compile=False)
    model.fit(binary(64), epochs=1, batch_size=32, verbose=0)
    return model


# --------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"objective": "foo"}, "objective='foo'"),
        ({"num_importance_samples": 0}, "num_importance_samples=0"),
        ({"latent_dim": 0}, "latent_dim=0"),
        ({"beta": -1}, "beta=-1"),
        ({"likelihood": "poisson"}, "likelihood='poisson'"),
        ({"prior": "x"}, "prior='x'"),
    ],
)
def test_invalid_argument(kwargs, expected):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        small_vae(**kwargs)
    assert f"`{name}`" in str(info.value)


# -------------------------------------------------------------------- data


def test_wrong_input_shape_after_fit(fitted):
    bad = binary(4, shape=(7, 7, 1))
    for call in (fitted.encode, fitted.reconstruct, fitted.log_likelihood):
        with pytest.raises(ValueError) as info:
            call(bad)
        message = str(info.value)
        assert "(8, 8, 1)" in message and "(4, 7, 7, 1)" in message, message
    with pytest.raises(ValueError, match=re.escape("(4, 7, 7, 1)")):
        fitted.evaluate(bad, verbose=0)
    with pytest.raises(ValueError, match=re.escape("(4, 7, 7, 1)")):
        fitted.fit(bad, epochs=1, verbose=0)


def test_wrong_latent_shape_for_decode(fitted):
    with pytest.raises(ValueError, match=re.escape("z.shape=(3, 5)")):
        fitted.decode(np.zeros((3, 5), "float32"))


def test_decoder_output_shape_mismatch_fails_at_build():
    model = small_vae(decoder=small_decoder((7, 7, 1)))
    with pytest.raises(ValueError) as info:
        model.build((None,) + SHAPE)
    message = str(info.value)
    assert "(8, 8, 1)" in message and "(7, 7, 1)" in message, message
    # fit builds from the data's shape and fails the same way, before tracing.
    model = small_vae(decoder=small_decoder((7, 7, 1)))
    model.compile(optimizer="adam", jit_compile=False)
    with pytest.raises(ValueError, match=re.escape("(7, 7, 1)")):
        model.fit(binary(8), epochs=1, verbose=0)


def test_non_finite_inputs(fitted):
    x = binary(8)
    x[3, 2, 2, 0] = np.nan
    calls = {
        "fit": lambda: fitted.fit(x, epochs=1, verbose=0),
        "evaluate": lambda: fitted.evaluate(x, verbose=0),
        "encode": lambda: fitted.encode(x),
        "log_likelihood": lambda: fitted.log_likelihood(x, num_importance_samples=2),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="finite") as info:
            call()
        assert "1 non-finite value(s)" in str(info.value), name
    x[3, 2, 2, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        fitted.encode(x)


def test_pixels_outside_unit_interval_with_bernoulli(fitted):
    x = binary(8)
    x[0, 0, 0, 0] = 2.0
    for call in (fitted.encode, lambda v: fitted.fit(v, epochs=1, verbose=0)):
        with pytest.raises(ValueError, match=re.escape("[0, 1]")) as info:
            call(x)
        assert "max=2" in str(info.value)
    x[0, 0, 0, 0] = -0.5
    with pytest.raises(ValueError, match="min=-0.5"):
        fitted.evaluate(x, verbose=0)
    # A Gaussian likelihood accepts any finite value.
    gaussian = small_vae(likelihood="gaussian")
    loc, _ = gaussian.encode(x * 3.0)
    assert loc.shape == (8, 2)


@pytest.mark.parametrize("num_samples", [0, -3, 2.5])
def test_log_likelihood_num_samples(fitted, num_samples):
    with pytest.raises(ValueError, match=re.escape(f"num_importance_samples={num_samples!r}")):
        fitted.log_likelihood(binary(4), num_importance_samples=num_samples)


def test_sample_weight_rejected(fitted):
    x = binary(8)
    with pytest.raises(ValueError, match="sample_weight"):
        fitted.fit(x, x, sample_weight=np.ones(8), epochs=1, verbose=0)


# ------------------------------------------------------- NaN during training


class WeightRecorder(keras.callbacks.Callback):
    """Weights, optimizer variables and logs after every training step."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(
            {
                "weights": [np.array(v) for v in self.model.weights],
                "optimizer": [np.array(v) for v in self.model.optimizer.variables],
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "loss": float(logs["loss"]),
            }
        )


def test_non_finite_loss_stops_fit_and_skips_the_update():
    rng = np.random.default_rng(1)
    x = rng.random((64,) + SHAPE).astype("float32")
    x[24:32] = np.inf  # the 4th batch of 8; a dataset is streamed, not checked
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    model = small_vae(likelihood="gaussian")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True, steps_per_execution=1)
    recorder = WeightRecorder()
    with pytest.raises(NonFiniteLossError) as info:
        model.fit(dataset, epochs=2, shuffle=False, verbose=0, callbacks=[recorder])
    message = str(info.value)
    assert "non-finite" in message and "epoch 0, batch 3" in message, message

    steps = recorder.steps
    assert len(steps) == 4  # stopped at the bad step
    assert all(np.isfinite(s["loss"]) for s in steps[:3])
    assert not np.isfinite(steps[3]["loss"])
    # The good steps did update the weights...
    pairs = zip(steps[1]["weights"], steps[2]["weights"])
    assert sum(not np.array_equal(a, b) for a, b in pairs) >= 4
    # ...the bad one did not touch them, nor the optimizer's moments.
    final = [np.array(v) for v in model.weights]
    for good, after in zip(steps[2]["weights"], final):
        np.testing.assert_array_equal(after, good)
    assert all(np.all(np.isfinite(w)) for w in final)
    for good, after in zip(steps[2]["optimizer"], model.optimizer.variables):
        np.testing.assert_array_equal(np.array(after), good)
    # The optimizer's step counter counts applied updates only.
    assert [s["iterations"] for s in steps] == [1, 2, 3, 3]
    assert int(model.optimizer.iterations.numpy()) == 3
