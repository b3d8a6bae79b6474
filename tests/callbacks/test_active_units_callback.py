"""ActiveUnits: per-layer counts in the epoch logs, on its schedule.

The models have known dead units (linear-Gaussian models whose decoder
ignores some latent dimensions, or whose posterior mean ignores x), and are
fit with a zero learning rate so the counts stay those of the closed form.
"""

import csv

import keras
import numpy as np
import pytest

from keras_vae import testing
from keras_vae.callbacks import ActiveUnits
from keras_vae.testing.linear_gaussian import linear_gaussian_lvae
from keras_vae.testing.linear_gaussian import linear_gaussian_vae


def _data(n=48):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n, 6, 6, 1)) < 0.4).astype("float32")


class ActiveUnitsTest(testing.TestCase):
    def test_hierarchical_model_logs_every_layer_on_schedule(self):
        # A linear-Gaussian ladder whose top posterior mean ignores x: z_2's
        # one unit is dead (variance exactly 0), z_1's two are active.
        model, _ = linear_gaussian_lvae(seed=0)
        head = model.bottom_up_heads[1]
        kernel = head.kernel.numpy()
        kernel[:, : head.units] = 0.0
        head.kernel.assign(kernel)
        x = np.random.default_rng(0).normal(size=(48, 4)).astype("float32")
        # No XLA (~5 s a model): the callback runs on the host between
        # executions; every model's XLA training is the conformance suite's.
        model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
        logger = ActiveUnits(x[:20], every=2, threshold=1e-6, batch_size=7)
        path = self.get_temp_dir() + "/history.csv"
        history = model.fit(
            x,
            epochs=4,
            batch_size=16,
            verbose=0,
            callbacks=[logger, keras.callbacks.CSVLogger(path)],
        )
        # Logged after epochs 1 (the first of the call), 2 and 4.
        self.assertEqual(len(history.history["active_units_1"]), 3)
        self.assertEqual(len(history.history["active_units_2"]), 3)
        self.assertEqual(len(history.history["loss"]), 4)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        column = [row["active_units_2"] for row in rows]
        self.assertEqual([c == "NA" for c in column], [False, False, True, False])
        for i, want in ((1, 2), (2, 0)):
            self.assertEqual(history.history[f"active_units_{i}"], [want] * 3)

    def test_one_layer_model_logs_active_units(self):
        # Var_x(E[z_j | x]) = c_j^2 / (c_j^2 + s^2) = 0.9, 0.8, 0.0036, 0:
        # two of four units active at the default threshold 0.01.
        model, _ = linear_gaussian_vae(4, 6, 0.5, seed=5, column_norms=(1.5, 1.0, 0.03, 0.0))
        rng = np.random.default_rng(0)
        z = rng.normal(size=(1000, 4)).astype("float32")
        x = (np.asarray(model.decode(z)) + 0.5 * rng.normal(size=(1000, 6))).astype("float32")
        model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
        logs = model.fit(x, epochs=2, batch_size=100, verbose=0, callbacks=[ActiveUnits(x)]).history
        self.assertEqual(logs["active_units"], [2, 2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, r"`every` to be a positive integer"),
        ({"threshold": -1.0}, r"`threshold` to be a non-negative float"),
        ({"threshold": float("inf")}, r"`threshold` to be a non-negative float"),
        ({"batch_size": 0}, r"`batch_size` to be a positive"),
        ({"x": np.zeros((0, 4), "float32")}, r"non-empty batch.*\(0, 4\)"),
        ({"x": np.zeros(4, "float32")}, r"non-empty batch.*\(4,\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    kwargs = {"x": _data(4), **kwargs}
    with pytest.raises(ValueError, match=message):
        ActiveUnits(**kwargs)
