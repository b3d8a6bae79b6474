"""`export_for_serving` in a JAX process: the consumer's path.

A model trained under `KERAS_BACKEND=jax` is exported in the same process
(Keras's `ExportArchive`, through `jax2tf`), then every signature runs in TF
Serving's session loader (`tf.compat.v1.saved_model.loader.load` +
`sess.run`) in a fresh process that never imports keras_vae
(`keras_vae.testing.serving.run_in_session`). The served outputs are checked
against the model's own, computed under JAX: the deterministic signatures to
float32 rounding, `sample` draw for draw (the saved seed state is the
model's), `log_likelihood` within Monte Carlo error of `model.log_likelihood`
and exactly on a model with the exact posterior (chunks of 5 samples, so the
masking of a partial chunk is checked), and bad requests fail in the graph
with the named messages. The TensorFlow path is
tests/export/test_export_for_serving.py.
"""

import keras
import numpy as np
import pytest

from keras_vae.export import export_for_serving
from keras_vae.models import VAE
from keras_vae.testing.linear_gaussian import linear_gaussian_vae
from keras_vae.testing.serving import Call
from keras_vae.testing.serving import run_in_session

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the JAX export path (jax2tf); TensorFlow's is test_export_for_serving.py",
)

FEATURES = 12
LATENT = 2
BATCH = 6
NUM_SAMPLES = 3
LOG_LIKELIHOOD_SAMPLES = 1000
EXACT_SAMPLES = (1, 5, 7, 23)


def _bad_requests(x):
    """`[(Call, message fragment)]`: raw requests that must fail in the graph."""
    n = np.int32(10)
    return [
        # A rank-3 batch of a flat-vector model (was "In[0] should be a scalar").
        (
            Call("x_rank3", "encode", {"x": x[..., None]}, raw=True),
            f"Expected `x` of shape (batch, {FEATURES})",
        ),
        (
            Call("x_wide", "reconstruct", {"x": np.concatenate([x, x], axis=1)}, raw=True),
            f"Expected `x` of shape (batch, {FEATURES})",
        ),
        (
            Call(
                "x_nan", "log_likelihood", {"x": x * np.nan, "num_importance_samples": n}, raw=True
            ),
            "Expected `x` to be finite",
        ),
        (
            Call(
                "x_support",
                "log_likelihood",
                {"x": x * 255.0, "num_importance_samples": n},
                raw=True,
            ),
            "Expected `x` in [0, 1] (the support of the Bernoulli likelihood)",
        ),
        (
            Call("z_rank3", "decode", {"z": np.zeros((2, LATENT, 1), "float32")}, raw=True),
            f"Expected `z` of shape (batch, {LATENT})",
        ),
        (
            Call("n_zero", "sample", {"num_samples": np.int32(0)}, raw=True),
            "Expected `num_samples` to be a positive integer",
        ),
        (
            Call("n_vector", "sample", {"num_samples": np.int32([3])}, raw=True),
            "Expected `num_samples` to be a scalar",
        ),
        (
            Call(
                "s_negative",
                "log_likelihood",
                {"x": x, "num_importance_samples": np.int32(-1)},
                raw=True,
            ),
            "Expected `num_importance_samples` to be a positive integer",
        ),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Train and export under JAX; serve both exports in one TF child."""
    root = tmp_path_factory.mktemp("jax_export")
    rng = np.random.default_rng(0)
    data = (rng.uniform(size=(64, FEATURES)) < 0.3).astype("float32")
    model = VAE(latent_dim=LATENT, hidden_units=(8,), seed=1)
    model.compile(optimizer="adam")
    model.fit(data, epochs=1, batch_size=32, verbose=0)
    path = export_for_serving(model, root / "vae", chunk_size=500)

    x = data[:BATCH]
    z = rng.normal(size=(BATCH, LATENT)).astype("float32")
    # Before any other draw: the saved seed state is the model's now.
    drawn_z = np.asarray(model.sample_tensors(NUM_SAMPLES))
    loc, scale = model.encode(x)
    expected = {
        "encode": {"loc": loc, "scale": scale},
        "decode": {"mean": model.decode(z)},
        "reconstruct": {"mean": model.reconstruct(x)},
        "embed": {"embedding": model.embed(x)},
        "sample": {"z": drawn_z, "mean": model.decode(drawn_z)},
    }
    log_px = model.log_likelihood(x, num_importance_samples=LOG_LIKELIHOOD_SAMPLES)
    log_w = np.asarray(model.log_importance_weights(x, LOG_LIKELIHOOD_SAMPLES), "float64")
    w = np.exp(log_w - log_w.max(axis=0))
    # Standard error of log mean w (delta method), per example.
    log_px_se = w.std(axis=0) / (w.mean(axis=0) * np.sqrt(LOG_LIKELIHOOD_SAMPLES))

    bad = _bad_requests(x)
    calls = [
        Call("sample", "sample", {"num_samples": np.int32(NUM_SAMPLES)}),
        Call("sample_again", "sample", {"num_samples": np.int32(NUM_SAMPLES)}),
        Call("encode", "encode", {"x": x}),
        Call("decode", "decode", {"z": z}),
        Call("reconstruct", "reconstruct", {"x": x}),
        Call("embed", "embed", {"x": x}),
        Call(
            "log_likelihood",
            "log_likelihood",
            {"x": x, "num_importance_samples": np.int32(LOG_LIKELIHOOD_SAMPLES)},
        ),
    ] + [call for call, _ in bad]

    # The exact posterior: every importance weight is p(x), so the served
    # estimate is exact for any S; chunks of 5 leave a partial last chunk.
    exact_model, exact_log_px = linear_gaussian_vae(3, 6, 0.5, seed=2)
    exact_x = rng.normal(size=(9, 6)).astype("float32")
    exact_path = export_for_serving(
        exact_model, root / "exact", signatures=("log_likelihood",), chunk_size=5
    )
    exact_calls = [
        Call(f"S{s}", "log_likelihood", {"x": exact_x, "num_importance_samples": np.int32(s)})
        for s in EXACT_SAMPLES
    ]
    results, imported = run_in_session(
        {"vae": (path, calls), "exact": (exact_path, exact_calls)}, root / "session"
    )
    return {
        "results": results,
        "imported": imported,
        "expected": expected,
        "log_px": log_px,
        "log_px_se": log_px_se,
        "bad": bad,
        "exact": exact_log_px(exact_x),
    }


def _outputs(served, key, call_id):
    result = served["results"][key]
    assert "load_error" not in result, result.get("load_error")
    got = result[call_id]
    assert isinstance(got, dict), f"{call_id} failed: {got[:2000]}"
    return got


def test_the_serving_child_does_not_import_keras_vae(served):
    assert not [m for m in served["imported"] if m.split(".")[0] == "keras_vae"]
    signatures = set(served["results"]["vae"]["signatures"])
    assert {"encode", "decode", "reconstruct", "sample", "log_likelihood", "embed"} <= signatures
    assert "serving_default" in signatures


def test_deterministic_signatures_match_the_jax_model(served):
    for signature in ("encode", "decode", "reconstruct", "embed"):
        got = _outputs(served, "vae", signature)
        want = served["expected"][signature]
        assert sorted(got) == sorted(want), signature
        for key, value in want.items():
            value = np.asarray(value)
            assert got[key].shape == value.shape, (signature, key)
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=signature)


def test_sample_draws_from_the_saved_seed_state(served):
    got = _outputs(served, "vae", "sample")
    want = served["expected"]["sample"]
    assert got["z"].shape == (NUM_SAMPLES, LATENT)
    assert got["mean"].shape == (NUM_SAMPLES, FEATURES)
    # The same ThreeFry draws from the same state, in the exported module.
    np.testing.assert_allclose(got["z"], want["z"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-5, atol=1e-6)
    # The saved state advances: the next request draws new latents.
    again = _outputs(served, "vae", "sample_again")
    assert not np.allclose(again["z"], got["z"])


def test_log_likelihood_agrees_with_the_jax_model(served):
    got = _outputs(served, "vae", "log_likelihood")["log_likelihood"].astype("float64")
    assert got.shape == (BATCH,) and np.all(np.isfinite(got))
    # Two independent S-sample estimates: their difference has standard
    # deviation sqrt(2) se; the median over the batch is robust to one
    # heavy-tailed example, and a lost term or normalizer (log S = 7.6
    # nats) shifts every example.
    diff = got - served["log_px"]
    margin = 4.5 * np.sqrt(2.0) * np.median(served["log_px_se"]) + 1e-3
    assert abs(np.median(diff)) <= margin, (diff, served["log_px_se"])


def test_log_likelihood_chunks_are_masked_exactly(served):
    for s in EXACT_SAMPLES:
        got = _outputs(served, "exact", f"S{s}")["log_likelihood"]
        np.testing.assert_allclose(got, served["exact"], atol=1e-4, err_msg=f"S={s}")


def test_bad_requests_fail_in_the_graph_with_the_rule(served):
    for call, fragment in served["bad"]:
        got = served["results"]["vae"][call.id]
        assert isinstance(got, str), f"{call.id}: accepted, returned {list(got)}"
        assert got.startswith("InvalidArgumentError"), (call.id, got[:500])
        assert fragment in got, (call.id, got[:2000])


@pytest.mark.large
def test_every_model_family_serves_from_jax(tmp_path):
    """Slower duplicate: the layered, VQ and conditional signatures."""
    from keras_vae.models import VQVAE
    from keras_vae.models import HierarchicalVAE
    from keras_vae.models import LadderVAE
    from keras_vae.priors import VampPrior

    rng = np.random.default_rng(3)
    x = (rng.uniform(size=(4, 6, 6, 1)) < 0.4).astype("float32")
    condition = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    models = {
        "hvae": HierarchicalVAE(latent_dims=(3, 2), hidden_units=8, prior=VampPrior(4), seed=0),
        "lvae": LadderVAE(latent_dims=(3, 2), hidden_units=(8, 8), seed=0),
        "cvae": VAE(latent_dim=2, hidden_units=(8,), num_classes=3, seed=0),
        "vq": VQVAE(
            filters=4,
            residual_units=2,
            num_residual_blocks=1,
            num_downsamples=1,
            num_embeddings=5,
            embedding_dim=2,
            seed=0,
        ),
    }
    exports, expected = {}, {}
    for key, model in models.items():
        data = x[:, :4, :4] if key == "vq" else x
        model.build((None,) + data.shape[1:])
        path = export_for_serving(model, tmp_path / key, chunk_size=4)
        extra = {"condition": condition} if key == "cvae" else {}
        if key == "vq":
            codes = np.asarray(model.encode(data))
            expected[key] = {
                "codes": {"indices": codes},
                "decode_codes": {"mean": model.decode(codes)},
            }
            calls = [
                Call("codes", "codes", {"x": data}),
                Call("decode_codes", "decode_codes", {"indices": codes}),
                Call("bad", "decode_codes", {"indices": codes * 0 + 5}, raw=True),
            ]
        else:
            drawn = model.serving_signatures()["sample"][0](
                *([condition] if extra else [np.int32(NUM_SAMPLES)])
            )
            expected[key] = {
                "sample": {k: np.asarray(v) for k, v in drawn.items()},
                "reconstruct": {"mean": model.reconstruct(data, **extra)},
                "embed": {"embedding": model.embed(data, **extra)},
            }
            calls = [
                Call("sample", "sample", extra or {"num_samples": np.int32(NUM_SAMPLES)}),
                Call("reconstruct", "reconstruct", {"x": data, **extra}),
                Call("embed", "embed", {"x": data, **extra}),
                Call(
                    "log_likelihood",
                    "log_likelihood",
                    {"x": data, **extra, "num_importance_samples": np.int32(10)},
                ),
            ]
        exports[key] = (path, calls)
    results, _ = run_in_session(exports, tmp_path / "session")
    for key, want in expected.items():
        for call_id, outputs in want.items():
            got = results[key][call_id]
            assert isinstance(got, dict), (key, call_id, got[:2000])
            for name, value in outputs.items():
                np.testing.assert_allclose(
                    got[name], value, rtol=1e-5, atol=1e-5, err_msg=f"{key}/{call_id}/{name}"
                )
        if key == "vq":
            assert "Expected `indices` in [0, 5)" in results[key]["bad"]
        else:
            log_px = results[key]["log_likelihood"]["log_likelihood"]
            assert log_px.shape == (4,) and np.all(np.isfinite(log_px)), key
