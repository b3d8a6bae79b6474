import math
import os

import keras
import numpy as np
import pytest

import keras_vae
from keras_vae.testing import TestCase
from keras_vae.testing import run_check_script
from keras_vae.testing.backend import compiled
from keras_vae.testing.backend import value_and_grad

HERE = os.path.dirname(os.path.abspath(__file__))


def oracle(values, kappa, alpha, nu, damping=None, lam=1.0, lo=1e-6, hi=100.0, relative=False):
    """The published update, in float64 numpy, written from the formulas.

    GECO (Rezende & Viola 2018, Alg. 1) and VHP-VAE (Klushyn et al. 2019):
    C_hat_t = alpha C_hat_{t-1} + (1 - alpha) C_t,  C_hat_1 = C_1
    lam_t = lam_{t-1} exp(nu f(lam_{t-1}, d_t) d_t),  d_t = C_hat_t - kappa^2
    f(lam, d) = H(d) + (1 - H(d)) tanh(xi (lam - 1))   (f = 1 without damping)
    `relative=True` divides d_t by kappa^2 (the library's variant); the
    clip of lam to [lo, hi] is the library's addition.
    """
    lams, average = [], None
    for c in values:
        average = c if average is None else alpha * average + (1 - alpha) * c
        delta = average - kappa**2
        if relative:
            delta /= kappa**2
        heaviside = 1.0 if delta >= 0 else 0.0
        f = 1.0
        if damping is not None:
            f = heaviside + (1.0 - heaviside) * math.tanh(damping * (lam - 1.0))
        lam = float(np.clip(lam * math.exp(nu * f * delta), lo, hi))
        lams.append(lam)
    return np.array(lams), average


class GECOTest(TestCase):
    # A deterministic constraint sequence: violated for 20 steps, then held.
    VALUES = [20.0] * 20 + [2.0] * 60

    def run_updates(self, geco):
        return np.array([float(geco(np.float32(c), training=True)) for c in self.VALUES])

    def test_matches_the_update_rule(self):
        for damping in (None, 2.0):
            for relative, nu in ((False, 0.03), (True, 0.3)):
                geco = keras_vae.layers.GECO(
                    kappa=3.0, alpha=0.9, nu=nu, damping=damping, relative=relative
                )
                lams = self.run_updates(geco)
                expected, average = oracle(self.VALUES, 3.0, 0.9, nu, damping, relative=relative)
                self.assertEqual(lams.max(), 100.0)  # the default ceiling
                self.assertAllClose(lams, expected, rtol=1e-5)
                self.assertAllClose(float(geco.constraint_average), average, rtol=1e-5)
                self.assertEqual(float(geco.steps), len(self.VALUES))

    def test_published_update_on_a_scripted_sequence(self):
        # Violated, held, violated again, held: lambda below and above 1.
        # kappa^2 = 4; the default (absolute) violation C_hat - kappa^2.
        values = [9.0, 7.0, 1.0, 0.0, 0.5, 6.0, 8.0, 2.0, 1.0, 1.0, 3.0, 0.0]

        def scripted_geco(**kwargs):
            return keras_vae.layers.GECO(kappa=2.0, alpha=0.5, nu=0.4, damping=1.5, **kwargs)

        for lam0 in (0.5, 1.0, 3.0):
            geco = scripted_geco(initial_multiplier=lam0, max_multiplier=1e4)
            lams = [float(geco(np.float32(c), training=True)) for c in values]
            expected, _ = oracle(values, 2.0, 0.5, 0.4, 1.5, lam=lam0, hi=1e4)
            self.assertAllClose(lams, expected, rtol=1e-5)
        # The first two steps by hand (lam0 = 1): C_hat = 9, then 8.
        by_hand = [math.exp(0.4 * 5.0), math.exp(0.4 * 5.0) * math.exp(0.4 * 4.0)]
        geco = scripted_geco(max_multiplier=1e4)
        self.assertAllClose(
            [float(geco(np.float32(c), training=True)) for c in values[:2]], by_hand, rtol=1e-5
        )
        # Held (C_hat = 3 < 4) from lam = 3: the step is
        # exp(nu tanh(xi (lam - 1)) (C_hat - kappa^2)) < 1, towards 1.
        geco = scripted_geco(initial_multiplier=3.0)
        step = float(geco(np.float32(3.0), training=True))
        self.assertAllClose(step, 3.0 * math.exp(0.4 * math.tanh(1.5 * 2.0) * -1.0), rtol=1e-6)
        # ... and from lam = 0.5 it grows back towards 1.
        geco = scripted_geco(initial_multiplier=0.5)
        step = float(geco(np.float32(3.0), training=True))
        self.assertAllClose(step, 0.5 * math.exp(0.4 * math.tanh(-0.75) * -1.0), rtol=1e-6)
        self.assertTrue(0.5 < step < 1.0)

    def test_relative_violation_is_the_absolute_rule_with_nu_over_kappa_squared(self):
        a = keras_vae.layers.GECO(kappa=3.0, alpha=0.9, nu=0.3, damping=1.0, relative=True)
        b = keras_vae.layers.GECO(kappa=3.0, alpha=0.9, nu=0.3 / 9.0, damping=1.0)
        self.assertAllClose(self.run_updates(a), self.run_updates(b), rtol=1e-5)

    def test_lambda_grows_while_violated_and_decays_while_held(self):
        geco = keras_vae.layers.GECO(kappa=3.0, alpha=0.9, nu=0.03, max_multiplier=1e4)
        lams = self.run_updates(geco)
        # The moving average crosses kappa^2 = 9 a few steps after the switch.
        average = oracle(self.VALUES, 3.0, 0.9, 0.03)[1]
        self.assertLess(average, 9.0)
        self.assertTrue(np.all(np.diff(lams[:20]) > 0))
        turn = int(np.argmax(lams))
        self.assertTrue(20 <= turn < 30)
        self.assertTrue(np.all(np.diff(lams[turn:]) < 0))
        self.assertLess(lams[-1], 1.0)  # plain GECO decays below 1

    def test_damped_rule_relaxes_towards_one(self):
        geco = keras_vae.layers.GECO(kappa=3.0, alpha=0.9, nu=0.03, damping=1.0, max_multiplier=1e4)
        lams = self.run_updates(geco)
        self.assertGreater(lams.max(), 5.0)
        self.assertTrue(np.all(np.diff(lams[int(np.argmax(lams)) :]) <= 0))
        self.assertGreaterEqual(lams[-1], 1.0)
        self.assertLess(lams[-1], lams.max() / 2)

    def test_held_constraint_from_one_keeps_lambda_at_one_when_damped(self):
        geco = keras_vae.layers.GECO(kappa=3.0, damping=1.0)
        for _ in range(5):
            lam = geco(np.float32(1.0), training=True)
        self.assertAllClose(lam, 1.0)

    def test_no_update_outside_training_and_clipping(self):
        geco = keras_vae.layers.GECO(kappa=1.0, nu=100.0, max_multiplier=50.0)
        self.assertAllClose(geco(np.float32(1e6), training=False), 1.0)
        self.assertEqual(float(geco.steps), 0.0)
        self.assertAllClose(geco(np.float32(1e6), training=True), 50.0)
        geco = keras_vae.layers.GECO(kappa=1.0, nu=100.0, min_multiplier=0.5)
        self.assertAllClose(geco(np.float32(0.0), training=True), 0.5)

    def test_constraint_is_trained_to_hold_on_a_toy_problem(self):
        # min_w w^2 (the "KL") s.t. (w - 3)^2 <= 1: the solution is w = 2.
        geco = keras_vae.layers.GECO(kappa=1.0, alpha=0.5, nu=0.05, max_multiplier=10.0)
        w = keras.Variable(0.0)

        def loss_fn():
            c = (w - 3.0) ** 2
            lam = geco(c, training=True)
            return w**2 + lam * (c - 1.0)

        def sgd_step():  # plain SGD, learning rate 0.01
            _, (grad,) = value_and_grad(loss_fn, variables=[w])
            w.assign(w - 0.01 * grad)

        step = compiled(sgd_step, state=[geco, w])
        for _ in range(3000):
            step()
        self.assertAllClose(float(w), 2.0, atol=0.05)
        # Stationarity of the Lagrangian: 2w = 2 lam (3 - w) -> lam = 2.
        self.assertAllClose(float(geco.multiplier), 2.0, atol=0.15)

    def test_config_round_trip(self):
        geco = keras_vae.layers.GECO(
            kappa=2.0,
            alpha=0.5,
            nu=0.2,
            damping=3.0,
            relative=True,
            initial_multiplier=2.0,
            min_multiplier=0.1,
            max_multiplier=10.0,
        )
        restored = keras_vae.layers.GECO.from_config(geco.get_config())
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
            ({"kappa": 1.0, "relative": "yes"}, "relative"),
            ({"kappa": 1.0, "initial_multiplier": 0.0}, "initial_multiplier"),
            ({"kappa": 1.0, "initial_multiplier": -1.0}, "initial_multiplier"),
            ({"kappa": 1.0, "min_multiplier": 0.0}, "min_multiplier"),
            ({"kappa": 1.0, "initial_multiplier": 20.0, "max_multiplier": 10.0}, "max_multiplier"),
            ({"kappa": 1.0, "min_multiplier": 2.0}, "min_multiplier <= initial"),
        ):
            with pytest.raises(ValueError, match=match):
                keras_vae.layers.GECO(**kwargs)


@pytest.fixture(scope="module")
def distributed():
    # Run only by the tests marked `tensorflow_only` below.
    return run_check_script(os.path.join(HERE, "geco_distributed_check.py"))


@pytest.mark.tensorflow_only(reason="tf.distribute.MirroredStrategy on two logical CPU devices")
def test_mirrored_update_uses_the_global_batch(distributed):
    assert distributed["num_replicas"] == 2
    single, mirrored = distributed["single"], distributed["mirrored"]
    for name in single:
        np.testing.assert_allclose(mirrored[name], single[name] * 2, rtol=1e-6, err_msg=name)
    returned = np.array(distributed["returned"])
    np.testing.assert_allclose(returned[:, 0], returned[:, 1])
    np.testing.assert_allclose(returned[-1, 0], single["multiplier"][0], rtol=1e-6)


@pytest.mark.tensorflow_only(reason="tf.distribute.MirroredStrategy on two logical CPU devices")
def test_model_fit_under_mirrored_strategy_follows_the_global_batch(distributed):
    # The state's aggregation keeps the first replica's copy, so the copies
    # are equal by construction; what can fail is their value: it must be the
    # rule applied to each global batch's C (the logged, all-reduced metric),
    # not to one replica's half of the batch.
    copies = distributed["fit_copies"]
    constraints = distributed["fit_batch_constraints"]
    assert len(constraints) == 4 and copies["steps"] == [4.0, 4.0]
    lams, average = oracle(constraints, **distributed["fit_geco"])
    assert abs(lams[-1] - 1.0) > 0.05  # the multiplier moved
    for i in (0, 1):
        np.testing.assert_allclose(copies["multiplier"][i], lams[-1], rtol=1e-5)
        np.testing.assert_allclose(copies["constraint_average"][i], average, rtol=1e-5)
    assert all(np.isfinite(distributed["fit_lambda"]))
