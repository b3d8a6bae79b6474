"""LogLikelihood: an importance-sampled estimate in the epoch logs."""

import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.callbacks import LogLikelihood


def _data(n=40):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n, 6, 6, 1)) < 0.4).astype("float32")


def _vae():
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
    # No XLA (~5 s a model): the callback runs on the host between
    # executions; every model's XLA training is the conformance suite's.
    model.compile(optimizer="adam", jit_compile=False)
    return model


class LogLikelihoodCallbackTest(testing.TestCase):
    def test_logs_the_estimate_on_schedule(self):
        x = _data()
        model = _vae()
        callback = LogLikelihood(x, every=2, num_importance_samples=500, max_examples=10)
        logs = model.fit(x, epochs=4, batch_size=16, verbose=0, callbacks=[callback]).history
        self.assertEqual(len(logs["val_log_likelihood"]), 3)  # epochs 1, 2, 4
        want = keras_vae.diagnostics.log_likelihood(
            model, x, num_importance_samples=500, max_examples=10
        )
        # Fresh importance samples: close, not equal (the noise of the mean
        # of 10 estimates with 500 samples each is far below 0.5 nats).
        self.assertAllClose(logs["val_log_likelihood"][-1], -want.nll, atol=0.5)
        self.assertLess(logs["val_log_likelihood"][-1], 0.0)

    def test_custom_name(self):
        model = _vae()
        callback = LogLikelihood(_data(8), num_importance_samples=3, name="train_ll")
        logs = model.fit(_data(), epochs=1, batch_size=20, verbose=0, callbacks=[callback]).history
        self.assertIn("train_ll", logs)
        self.assertNotIn("val_log_likelihood", logs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, r"`every` to be a positive integer"),
        ({"num_importance_samples": 0}, r"`num_importance_samples` to be a positive integer"),
        ({"max_examples": 0}, r"`max_examples` to be a positive integer"),
        ({"batch_size": -1}, r"`batch_size` to be a positive integer"),
        ({"name": ""}, r"`name` to be a non-empty string"),
        ({"x": np.zeros(3, "float32")}, r"non-empty batch.*\(3,\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogLikelihood(**{"x": _data(4), **kwargs})
