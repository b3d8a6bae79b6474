import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae
from keras_vae.testing import TestCase
from keras_vae.testing import run_check_script

HERE = os.path.dirname(os.path.abspath(__file__))


def oracle(values, kappa, alpha, nu, damping=None, lam=1.0, lo=1e-6, hi=100.0):
    """The update rule of the GECO docstring, in float64 numpy."""
    lams, average = [], None
    for c in values:
        average = c if average is None else alpha * average + (1 - alpha) * c
        delta = (average - kappa**2) / kappa**2
        rate = 1.0
        if damping is not None and delta < 0:
            rate = math.tanh(damping * (lam - 1.0))
        lam = float(np.clip(lam * math.exp(nu * rate * delta), lo, hi))
        lams.append(lam)
    return np.array(lams), average


class GECOTest(TestCase):
    # A deterministic constraint sequence: violated for 20 steps, then held.
    VALUES = [20.0] * 20 + [2.0] * 60

    def run_updates(self, geco):
        return np.array([float(geco(np.float32(c), training=True)) for c in self.VALUES])

    def test_matches_the_update_rule(self):
        for damping in (None, 2.0):
            geco = keras_vae.losses.GECO(kappa=3.0, alpha=0.9, nu=0.3, damping=damping)
            lams = self.run_updates(geco)
            expected, average = oracle(self.VALUES, 3.0, 0.9, 0.3, damping)
            self.assertEqual(lams.max(), 100.0)  # the default ceiling
            self.assertAllClose(lams, expected, rtol=1e-5)
            self.assertAllClose(float(geco.constraint_average), average, rtol=1e-5)
            self.assertEqual(float(geco.steps), len(self.VALUES))

    def test_lambda_grows_while_violated_and_decays_while_held(self):
        geco = keras_vae.losses.GECO(kappa=3.0, alpha=0.9, nu=0.3, max_multiplier=1e4)
        lams = self.run_updates(geco)
        # The moving average crosses kappa^2 = 9 a few steps after the switch.
        average = oracle(self.VALUES, 3.0, 0.9, 0.3)[1]
        self.assertLess(average, 9.0)
        self.assertTrue(np.all(np.diff(lams[:20]) > 0))
        turn = int(np.argmax(lams))
        self.assertTrue(20 <= turn < 30)
        self.assertTrue(np.all(np.diff(lams[turn:]) < 0))
        self.assertLess(lams[-1], 1.0)  # plain GECO decays below 1

    def test_damped_rule_relaxes_towards_one(self):
        geco = keras_vae.losses.GECO(kappa=3.0, alpha=0.9, nu=0.3, damping=1.0, max_multiplier=1e4)
        lams = self.run_updates(geco)
        self.assertGreater(lams.max(), 5.0)
        self.assertTrue(np.all(np.diff(lams[int(np.argmax(lams)):]) <= 0))
        self.assertGreaterEqual(lams[-1], 1.0)
        self.assertLess(lams[-1], lams.max() / 2)

    def test_held_constraint_from_one_keeps_lambda_at_one_when_damped(self):
        geco = keras_vae.losses.GECO(kappa=3.0, damping=1.0)
        for _ in range(5):
            lam = geco(np.float32(1.0), training=True)
        self.assertAllClose(lam, 1.0)

    def test_no_update_outside_training_and_clipping(self):
        geco = keras_vae.losses.GECO(kappa=1.0, nu=100.0, max_multiplier=50.0)
        self.assertAllClose(geco(np.float32(1e6), training=False), 1.0)
        self.assertEqual(float(geco.steps), 0.0)
        self.assertAllClose(geco(np.float32(1e6), training=True), 50.0)
        geco = keras_vae.losses.GECO(kappa=1.0, nu=100.0, min_multiplier=0.5)
        self.assertAllClose(geco(np.float32(0.0), training=True), 0.5)

    def test_constraint_is_trained_to_hold_on_a_toy_problem(self):
        # min_w w^2 (the "KL") s.t. (w - 3)^2 <= 1: the solution is w = 2.
        geco = keras_vae.losses.GECO(kappa=1.0, alpha=0.5, nu=0.05, max_multiplier=10.0)
        w = keras.Variable(0.0)
        opt = keras.optimizers.SGD(0.01)

        @tf.function(jit_compile=True)
        def step():
            with tf.GradientTape() as tape:
                c = (w - 3.0) ** 2
                lam = geco(c, training=True)
                loss = w**2 + lam * (c - 1.0)
            opt.apply([tape.gradient(loss, w)], [w])

        for _ in range(3000):
            step()
        self.assertAllClose(float(w), 2.0, atol=0.05)
        # Stationarity of the Lagrangian: 2w = 2 lam (3 - w) -> lam = 2.
        self.assertAllClose(float(geco.multiplier), 2.0, atol=0.15)

    def test_config_round_trip(self):
        geco = keras_vae.losses.GECO(
            kappa=2.0, alpha=0.5, nu=0.2, damping=3.0, initial_multiplier=2.0,
            min_multiplier=0.1, max_multiplier=10.0,
        )
        restored = keras_vae.losses.GECO.from_config(geco.get_config())
        self.assertEqual(restored.get_config(), geco.get_config())
        self.assertAllClose(restored.multiplier, 2.0)

    def test_bad_arguments(self):
        for kwargs, match in (
            ({"kappa": 0.0}, "kappa"),
            ({"kappa": -1.0}, "kappa"),
            ({"kappa": float("nan")}, "kappa"),
            ({"kappa": 1.0, "alpha": 1.0}, "alpha"),
            ({"kappa": 1.0, "alpha": -0.1}, "alpha"),
            ({"kappa": 1.0, "nu": 0.0}, "nu"),
            ({"kappa": 1.0, "damping": 0.0}, "damping"),
            ({"kappa": 1.0, "initial_multiplier": 0.0}, "initial_multiplier"),
            ({"kappa": 1.0, "initial_multiplier": -1.0}, "initial_multiplier"),
            ({"kappa": 1.0, "min_multiplier": 0.0}, "min_multiplier"),
            ({"kappa": 1.0, "initial_multiplier": 20.0, "max_multiplier": 10.0}, "max_multiplier"),
            ({"kappa": 1.0, "min_multiplier": 2.0}, "min_multiplier <= initial"),
        ):
            with pytest.raises(ValueError, match=match):
                keras_vae.losses.GECO(**kwargs)


@pytest.fixture(scope="module")
def distributed():
    return run_check_script(os.path.join(HERE, "geco_distributed_check.py"))


def test_mirrored_update_uses_the_global_batch(distributed):
    assert distributed["num_replicas"] == 2
    single, mirrored = distributed["single"], distributed["mirrored"]
    for name in single:
        np.testing.assert_allclose(mirrored[name], single[name] * 2, rtol=1e-6, err_msg=name)
    returned = np.array(distributed["returned"])
    np.testing.assert_allclose(returned[:, 0], returned[:, 1])
    np.testing.assert_allclose(returned[-1, 0], single["multiplier"][0], rtol=1e-6)


def test_model_fit_under_mirrored_strategy_keeps_replica_copies_equal(distributed):
    copies = distributed["fit_copies"]
    for name, values in copies.items():
        assert values[0] == values[1], name
    assert copies["steps"][0] == 4.0  # 2 epochs x 2 global batches
    assert all(np.isfinite(distributed["fit_lambda"]))
