"""ELBOSurgery: per-layer keys in the epoch logs, on its schedule."""

import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.callbacks import ELBOSurgery

KEYS = ("mutual_information", "marginal_kl", "avg_kl")


def _data(n=40):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n, 6, 6, 1)) < 0.4).astype("float32")


class ELBOSurgeryCallbackTest(testing.TestCase):
    def test_one_layer_model_logs_on_schedule(self):
        x = _data()
        model = keras_vae.models.VAE(latent_dim=3, hidden_units=(8,), seed=0)
        # No XLA (~5 s a model): the callback runs on the host between
        # executions; every model's XLA training is the conformance suite's.
        model.compile(optimizer="adam", jit_compile=False)
        callback = ELBOSurgery(x[:30], every=3, num_samples=2, seed=5)
        logs = model.fit(x, epochs=3, batch_size=16, verbose=0, callbacks=[callback]).history
        # Epochs 1 (the first of the call) and 3; nothing after epoch 2.
        for key in KEYS:
            self.assertEqual(len(logs[key]), 2, key)
        want = keras_vae.diagnostics.elbo_surgery(model, x[:30], num_samples=2, seed=5)
        for key in KEYS:
            self.assertAllClose(logs[key][-1], getattr(want, key), rtol=1e-6)
        self.assertAllClose(
            logs["mutual_information"][0] + logs["marginal_kl"][0],
            logs["avg_kl"][0],
            atol=1e-9,
        )

    def test_hierarchical_model_logs_every_layer(self):
        model = keras_vae.models.HierarchicalVAE(latent_dims=(3, 2), hidden_units=8)
        model.compile(optimizer="adam", jit_compile=False)
        logs = model.fit(
            _data(), epochs=1, batch_size=20, verbose=0,
            callbacks=[ELBOSurgery(_data(20))],
        ).history  # fmt: skip
        want = {f"{k}_{i}" for k in KEYS for i in (1, 2)}
        self.assertTrue(want <= set(logs), set(logs))
        self.assertFalse(set(KEYS) & set(logs))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, r"`every` to be a positive integer"),
        ({"num_samples": 0}, r"`num_samples` to be a positive integer"),
        ({"batch_size": 0}, r"`batch_size` to be a positive integer"),
        ({"seed": 1.5}, r"`seed` to be an integer"),
        ({"x": np.zeros((0, 4), "float32")}, r"non-empty batch.*\(0, 4\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ELBOSurgery(**{"x": _data(4), **kwargs})
