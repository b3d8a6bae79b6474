"""IWAE gradient estimators (standard, STL, DReG) against closed forms.

The model is linear-Gaussian: p(z) = N(0, I), p(x | z) = N(W z + b, sigma^2 I),
q(z | x) = N(A x + c, diag(s^2)), s = exp(log_s). Each of N independent draws
gets its own copy of the parameters, so one backward pass returns N per-draw
gradients; their mean and standard error are checked against numpy oracles.
"""

import math

import numpy as np
import pytest
import scipy.special
from keras import ops

import keras_vae
from keras_vae import testing
from keras_vae.testing.backend import compiled as xla
from keras_vae.testing.backend import value_and_grad

SIGMA = 0.7
ENCODER = ("A", "c", "log_s")
DECODER = ("W", "b")


def _model(perturbation, seed=0, latent_dim=2, data_dim=3, batch=3):
    """Parameters whose q is the exact posterior perturbed by `perturbation`.

    W has orthogonal columns, so the posterior covariance is diagonal and the
    family of q contains it: A x + c and s are then the exact posterior.
    """
    rng = np.random.RandomState(seed)
    w = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))[0] * [1.5, 0.8]
    b = rng.normal(scale=0.5, size=data_dim)
    precision = np.eye(latent_dim) + w.T @ w / SIGMA**2
    a = np.linalg.solve(precision, w.T) / SIGMA**2
    params = {
        "W": w,
        "b": b,
        "A": a + perturbation * rng.normal(size=a.shape),
        "c": -a @ b + perturbation * rng.normal(size=latent_dim),
        "log_s": -0.5 * np.log(np.diag(precision)) + perturbation * rng.normal(size=latent_dim),
    }
    return params, rng.normal(size=(batch, data_dim))


# ----------------------------------------------------------------- oracles


def _exact_elbo_gradient(params, x):
    """Closed-form gradient of the ELBO (= L_1) of one example, in float64."""
    w, b, a, c = params["W"], params["b"], params["A"], params["c"]
    s2 = np.exp(2 * params["log_s"])
    m = a @ x + c
    r = x - w @ m - b
    grad_m = w.T @ r / SIGMA**2 - m
    return {
        "A": np.outer(grad_m, x),
        "c": grad_m,
        "log_s": 1.0 - s2 - (w**2).sum(0) * s2 / SIGMA**2,
        "W": (np.outer(r, m) - w * s2) / SIGMA**2,
        "b": r / SIGMA**2,
    }


def _numpy_estimate(params, x, eps, estimator):
    """One draw of an estimator, (gradients, L_k), from the papers' formulas.

    dlog w/dz = W^T r / sigma^2 - z + eps / s; the score terms at fixed z are
    dlog w/dm = -eps / s and dlog w/dlog s = 1 - eps^2.
    """
    w, b, a, c = params["W"], params["b"], params["A"], params["c"]
    s = np.exp(params["log_s"])
    z = a @ x + c + s * eps
    r = x - z @ w.T - b
    log_w = (
        -0.5 * len(x) * math.log(2 * math.pi * SIGMA**2)
        - 0.5 * (r**2).sum(-1) / SIGMA**2
        - 0.5 * (z**2).sum(-1)
        + 0.5 * (eps**2).sum(-1)
        + params["log_s"].sum()
    )
    normalized = scipy.special.softmax(log_w)
    grad_z = r @ w / SIGMA**2 - z + eps / s
    coeff = normalized**2 if estimator == "dreg" else normalized
    grad_m = coeff @ grad_z
    grad_log_s = coeff @ (grad_z * s * eps)
    if estimator == "standard":
        grad_m = grad_m + normalized @ (-eps / s)
        grad_log_s = grad_log_s + normalized @ (1.0 - eps**2)
    grads = {
        "A": np.outer(grad_m, x),
        "c": grad_m,
        "log_s": grad_log_s,
        "W": np.einsum("k,kD,kd->Dd", normalized, r, z) / SIGMA**2,
        "b": normalized @ r / SIGMA**2,
    }
    return grads, scipy.special.logsumexp(log_w) - math.log(len(log_w))


# ------------------------------------------------------ the Keras computation


def _per_draw(params, x, eps, estimator, log_weight_dtype=None):
    """Per-draw gradients of `iwae_objective` for data `x` (N, D), eps (k, N, d)."""
    n = x.shape[0]
    tensors = {
        key: ops.convert_to_tensor(np.broadcast_to(value, (n,) + value.shape), "float32")
        for key, value in params.items()
    }
    x = ops.convert_to_tensor(x, "float32")
    eps = ops.convert_to_tensor(eps, "float32")
    return _gradients(tensors, x, eps, estimator, log_weight_dtype)


def _gradients(tensors, x, eps, estimator, log_weight_dtype=None):
    keys = sorted(tensors)

    def total(*values):
        tensors = dict(zip(keys, values))
        loc = ops.einsum("nde,ne->nd", tensors["A"], x) + tensors["c"]
        scale = ops.exp(tensors["log_s"])

        def log_weight_fn(z, q_loc, q_scale):
            mean = ops.einsum("nDd,knd->knD", tensors["W"], z) + tensors["b"]
            log_lik = -0.5 * ((x - mean) / SIGMA) ** 2 - math.log(SIGMA)
            log_prior = -0.5 * z**2
            log_q = -0.5 * ((z - q_loc) / q_scale) ** 2 - ops.log(q_scale)
            log_w = (
                ops.sum(log_lik, -1)
                - 0.5 * x.shape[-1] * math.log(2 * math.pi)
                + ops.sum(log_prior - log_q, -1)
            )
            return log_w if log_weight_dtype is None else ops.cast(log_w, log_weight_dtype)

        surrogate, bound = keras_vae.losses.iwae_objective(
            log_weight_fn, loc, scale, eps, estimator=estimator
        )
        return ops.sum(surrogate), surrogate, bound

    (_, surrogate, bound), grads = value_and_grad(
        total, [tensors[key] for key in keys], has_aux=True
    )
    return dict(zip(keys, grads)), surrogate, bound


def _draws(params, data, k, n, seed):
    """Data cycled over `n` draws and standard normal eps of shape (k, n, d)."""
    x = data[np.arange(n) % len(data)]
    eps = np.random.default_rng(seed).normal(size=(k, n, len(params["c"])))
    return x, eps


def _stack(grads, keys):
    return np.concatenate([np.reshape(grads[key], (len(grads[key]), -1)) for key in keys], 1)


ESTIMATORS = ("standard", "stl", "dreg")


class IWAEObjectiveTest(testing.TestCase):
    def test_forward_value_is_the_bound(self):
        params, data = _model(0.5)
        x, eps = _draws(params, data, k=5, n=6, seed=1)
        want = [
            _numpy_estimate(params, x[i], eps[:, i].astype("f4").astype("f8"), "standard")[1]
            for i in range(6)
        ]
        for estimator in ESTIMATORS:
            _, surrogate, bound = _per_draw(params, x, eps, estimator)
            self.assertEqual(surrogate.dtype, "float32")
            self.assertAllClose(surrogate, want, rtol=1e-5, atol=1e-5, msg=estimator)
            self.assertAllClose(bound, want, rtol=1e-5, atol=1e-5, msg=estimator)

    def test_per_draw_gradients_match_the_formulas(self):
        # Each draw, not only the mean: the papers' estimators term by term.
        params, data = _model(0.5)
        for k in (1, 5):
            x, eps = _draws(params, data, k=k, n=9, seed=2)
            eps = eps.astype("f4").astype("f8")
            for estimator in ESTIMATORS:
                grads, _, _ = _per_draw(params, x, eps, estimator)
                for i in range(9):
                    want, _ = _numpy_estimate(params, x[i], eps[:, i], estimator)
                    for key in want:
                        self.assertAllClose(
                            grads[key][i],
                            want[key],
                            rtol=1e-4,
                            atol=1e-4,
                            msg=f"{estimator} k={k} draw {i} {key}",
                        )

    def test_k1_unbiased_for_the_exact_elbo_gradient(self):
        # L_1 is the ELBO, whose gradient has a closed form; all three
        # estimators are unbiased for it (STL's dropped score has mean 0).
        params, data = _model(0.5)
        exact = [_exact_elbo_gradient(params, x) for x in data]
        want = np.concatenate(
            [np.mean([e[key] for e in exact], 0).ravel() for key in ENCODER + DECODER]
        )
        x, eps = _draws(params, data, k=1, n=3 * 4000, seed=3)
        for estimator in ESTIMATORS:
            grads, _, _ = _per_draw(params, x, eps, estimator)
            draws = _stack(grads, ENCODER + DECODER)
            mean = draws.mean(0)
            stderr = draws.std(0) / math.sqrt(len(draws))
            self.assertTrue(
                np.all(np.abs(mean - want) <= 4 * stderr + 1e-5),
                f"{estimator}: mean {mean}, exact {want}, stderr {stderr}",
            )

    def test_k5_dreg_unbiased_stl_biased_decoder_shared(self):
        # Tucker et al. 2018: DReG has the standard estimator's expectation;
        # STL does not for k > 1. All three share the decoder gradient.
        params, data = _model(0.5)
        x, eps = _draws(params, data, k=5, n=3 * 4000, seed=4)
        grads = {e: _per_draw(params, x, eps, e)[0] for e in ESTIMATORS}
        for estimator in ("stl", "dreg"):
            self.assertAllClose(
                _stack(grads[estimator], DECODER),
                _stack(grads["standard"], DECODER),
                rtol=1e-4,
                atol=1e-4,
            )

        def paired_z(estimator):  # mean difference to standard in stderrs
            diff = _stack(grads[estimator], ENCODER) - _stack(grads["standard"], ENCODER)
            return diff.mean(0) / (diff.std(0) / math.sqrt(len(diff)))

        dreg_z, stl_z = paired_z("dreg"), paired_z("stl")
        self.assertLess(np.max(np.abs(dreg_z)), 4.0, f"DReG is biased: {dreg_z}")
        self.assertGreater(np.max(np.abs(stl_z)), 8.0, f"STL shows no bias: {stl_z}")

    def test_encoder_snr_grows_with_k_for_dreg_shrinks_for_standard(self):
        # Rainforth et al. 2018 / Tucker et al. 2018: SNR = |mean| / std of
        # the encoder gradient over draws, one example, q near p(z | x).
        params, data = _model(0.2)
        snr = {e: [] for e in ("standard", "dreg")}
        for k in (1, 10, 100):
            x, eps = _draws(params, data[:1], k=k, n=2000, seed=5)
            for estimator, values in snr.items():
                draws = _stack(_per_draw(params, x, eps, estimator)[0], ENCODER)
                values.append(np.mean(np.abs(draws.mean(0)) / draws.std(0)))
        dreg, standard = snr["dreg"], snr["standard"]
        self.assertTrue(dreg[0] < dreg[1] < dreg[2], f"DReG SNR: {dreg}")
        self.assertTrue(standard[0] > standard[1] > standard[2], f"standard SNR: {standard}")
        self.assertGreater(dreg[2] / dreg[0], 3.0, dreg)  # ~ sqrt(k) growth
        self.assertGreater(standard[0] / standard[2], 3.0, standard)

    def test_xla_matches_eager(self):
        params, data = _model(0.5)
        x, eps = _draws(params, data, k=5, n=6, seed=6)
        tensors = {
            key: ops.convert_to_tensor(np.broadcast_to(v, (6,) + v.shape), "float32")
            for key, v in params.items()
        }
        x, eps = ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(eps, "float32")
        # One compiled function for the three estimators: one XLA compilation.
        compiled = xla(lambda t, x, e: [_gradients(t, x, e, est)[:2] for est in ESTIMATORS])
        for estimator, (got, surrogate) in zip(ESTIMATORS, compiled(tensors, x, eps)):
            want, want_surrogate, _ = _gradients(tensors, x, eps, estimator)
            self.assertAllClose(surrogate, want_surrogate, rtol=1e-5, atol=1e-5)
            for key in want:
                self.assertAllClose(
                    got[key], want[key], rtol=1e-4, atol=1e-5, msg=f"{estimator} {key}"
                )

    def test_16_bit_log_weights_are_cast_to_float32(self):
        params, data = _model(0.5)
        x, eps = _draws(params, data, k=5, n=3, seed=7)
        for estimator in ESTIMATORS:
            grads, surrogate, bound = _per_draw(params, x, eps, estimator, "bfloat16")
            want_grads, want, _ = _per_draw(params, x, eps, estimator)
            self.assertEqual(surrogate.dtype, "float32")
            self.assertEqual(bound.dtype, "float32")
            self.assertAllClose(surrogate, want, rtol=2e-2, atol=0.1)
            self.assertAllClose(grads["c"], want_grads["c"], rtol=0.1, atol=0.3)

    def test_higher_rank_latents(self):
        # A (k, batch, h, w) latent is a flattened (k, batch, h * w) one.
        rng = np.random.default_rng(8)
        loc = rng.normal(size=(2, 2, 3)).astype("f4")
        scale = rng.uniform(0.5, 1.5, size=(2, 2, 3)).astype("f4")
        eps = rng.normal(size=(4, 2, 2, 3)).astype("f4")
        target = rng.normal(size=(2, 2, 3)).astype("f4")

        def log_weight_fn(z, q_loc, q_scale):
            log_p = -0.5 * (z - target.reshape(z.shape[1:])) ** 2
            log_q = -0.5 * ((z - q_loc) / q_scale) ** 2 - ops.log(q_scale)
            return ops.sum(ops.reshape(log_p - log_q, (4, 2, -1)), -1)

        def grads(shape):
            def total(loc_t, scale_t):
                surrogate, _ = keras_vae.losses.iwae_objective(
                    log_weight_fn, loc_t, scale_t, eps.reshape((4,) + shape), "dreg"
                )
                return ops.sum(surrogate)

            _, grads = value_and_grad(total, [loc.reshape(shape), scale.reshape(shape)])
            return [np.asarray(g).reshape(2, 2, 3) for g in grads]

        for got, want in zip(grads((2, 2, 3)), grads((2, 6))):
            self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)

    def test_errors(self):
        def fn(z, q_loc, q_scale):
            return ops.sum(z, -1)

        loc, scale = np.zeros((2, 3), "f4"), np.ones((2, 3), "f4")
        eps = np.zeros((4, 2, 3), "f4")
        with pytest.raises(ValueError, match="Expected `estimator` to be one of"):
            keras_vae.losses.iwae_objective(fn, loc, scale, eps, estimator="vimco")
        with pytest.raises(ValueError, match=r"Expected `eps` of shape \(k, batch, d, ...\)"):
            keras_vae.losses.iwae_objective(fn, loc, scale, np.zeros((4, 2, 5), "f4"))
        with pytest.raises(ValueError, match="Received: eps.shape=\\(2, 3\\)"):
            keras_vae.losses.iwae_objective(fn, loc, scale, np.zeros((2, 3), "f4"))
        with pytest.raises(ValueError, match="`scale`"):
            keras_vae.losses.iwae_objective(fn, loc, np.ones((2, 4), "f4"), eps)
        with pytest.raises(ValueError, match="log weights of shape"):
            keras_vae.losses.iwae_objective(lambda z, m, s: z, loc, scale, eps)
