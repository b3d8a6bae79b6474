"""ActiveUnits: per-layer counts in the epoch logs, on its schedule."""

import csv

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae import testing
from keras_vae.callbacks import ActiveUnits


def _data(n=48):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n, 6, 6, 1)) < 0.4).astype("float32")


class ActiveUnitsTest(testing.TestCase):
    def test_hierarchical_model_logs_every_layer_on_schedule(self):
        x = _data()
        model = keras_vae.models.LadderVAE(
            latent_dims=(3, 2), hidden_units=(8, 4), seed=0
        )
        model.compile(optimizer="adam", jit_compile=True)
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
        want = keras_vae.diagnostics.active_units(model, x[:20], threshold=1e-6)
        self.assertEqual(
            [history.history[f"active_units_{i}"][-1] for i in (1, 2)],
            [u.num_active for u in want],
        )

    def test_one_layer_model_logs_active_units(self):
        x = _data()
        model = keras_vae.models.VAE(latent_dim=3, hidden_units=(8,), seed=0)
        model.compile(optimizer="adam", jit_compile=True)
        logs = model.fit(
            x, epochs=1, batch_size=16, verbose=0, callbacks=[ActiveUnits(x)]
        ).history
        want = keras_vae.diagnostics.active_units(model, x).num_active
        self.assertEqual(logs["active_units"], [want])

    def test_serialization_keeps_the_data(self):
        logger = ActiveUnits(_data(5), every=3, threshold=0.5)
        clone = testing.run_serialization_test(logger)
        self.assertAllClose(clone.x, logger.x)
        self.assertEqual((clone.every, clone.threshold), (3, 0.5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, r"`every` to be a positive integer"),
        ({"threshold": -1.0}, r"`threshold` >= 0"),
        ({"batch_size": 0}, r"`batch_size` to be a positive"),
        ({"x": np.zeros((0, 4), "float32")}, r"non-empty batch.*\(0, 4\)"),
        ({"x": np.zeros(4, "float32")}, r"non-empty batch.*\(4,\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    kwargs = {"x": _data(4), **kwargs}
    with pytest.raises(ValueError, match=message):
        ActiveUnits(**kwargs)
