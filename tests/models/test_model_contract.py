"""The public model contract: `compute_loss`, a user's own model, `beta`."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import keras_vae
from keras_vae.testing.serving import Call
from keras_vae.testing.serving import run_in_session

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_model" / "train.py"


def _binary(n, dim=12, seed=0):
    return (np.random.default_rng(seed).uniform(size=(n, dim)) < 0.4).astype("float32")


def _user_iwae_class():
    spec = importlib.util.spec_from_file_location("custom_model_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.IWAE


class Penalized(keras_vae.models.VAE):
    """Adds c * mean(loc^2) to the loss through `compute_loss` only."""

    penalty = 5.0

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        loc, _ = self.encode_tensors(x)
        return loss + self.penalty * ops.mean(ops.sum(ops.square(loc), axis=-1))


def _fit(cls, x):
    model = cls(latent_dim=2, hidden_units=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return model, history


def test_compute_loss_override_trains_and_is_reported():
    x = _binary(32)
    base, base_history = _fit(keras_vae.models.VAE, x)
    penalized, history = _fit(Penalized, x)
    # Same seed, same data: the only difference is the added term.
    changed = [not np.allclose(a, b) for a, b in zip(base.get_weights(), penalized.get_weights())]
    assert any(changed)
    # The added term shrinks the posterior means towards 0.
    loc_base = np.asarray(base.encode(x)[0])
    loc_penalized = np.asarray(penalized.encode(x)[0])
    assert np.mean(loc_penalized**2) < np.mean(loc_base**2)
    # The reported loss is compute_loss's value: the negative ELBO plus the
    # term (evaluate reports the same quantities on the trained weights).
    result = penalized.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    loc, _ = penalized.encode(x)
    term = Penalized.penalty * np.mean(np.sum(np.square(np.asarray(loc)), axis=-1))
    np.testing.assert_allclose(result["loss"], -result["elbo"] + term, rtol=1e-4)
    assert history.history["loss"][-1] != pytest.approx(-history.history["elbo"][-1])
    assert base_history.history["loss"][-1] == pytest.approx(-base_history.history["elbo"][-1])


def test_kl_warm_up_on_a_model_without_beta_fails_fast(tiny_vqvae):
    model = tiny_vqvae(num_embeddings=4, embedding_dim=2)
    assert not hasattr(model, "beta")
    assert not isinstance(model, keras_vae.models.LatentVariableModel)
    x = np.random.default_rng(0).uniform(size=(4, 4, 4, 1)).astype("float32")
    model.compile(optimizer="adam")
    model.build(x.shape)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="KLWarmUp needs a model with a `beta` variable"):
        model.fit(x, epochs=1, verbose=0, callbacks=[keras_vae.callbacks.KLWarmUp(2)])
    # It failed before any training step.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_user_model_trains_exports_serves_and_runs_elbo_surgery(tmp_path):
    IWAE = _user_iwae_class()
    assert issubclass(IWAE, keras_vae.models.LatentVariableModel)
    x = _binary(64)
    model = IWAE(latent_dim=3, hidden_units=(16,), num_importance_samples=4, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["iwae_bound"]).all()

    # ELBO surgery through `latent_layers`: the identity holds exactly.
    result = keras_vae.diagnostics.elbo_surgery(model, x, num_samples=2, seed=0)
    assert result.mutual_information + result.marginal_kl == pytest.approx(result.avg_kl)
    assert -0.1 < result.mutual_information < result.log_n + 0.1
    assert result.avg_kl_analytic == pytest.approx(
        float(np.mean(np.asarray(model.prior.kl_divergence(*model.encode(x))))), rel=1e-5
    )

    # Export through `serving_signatures`, then serve on TF Serving's
    # session-based loader path, in a process without keras_vae.
    signatures = keras_vae.export.available_signatures(model)
    assert signatures == ("encode", "decode", "reconstruct", "sample", "log_likelihood", "embed")
    path = keras_vae.export.export_for_serving(model, tmp_path / "export")
    batch = x[:5]
    calls = [
        Call("reconstruct", "reconstruct", {"x": batch}),
        Call("encode", "encode", {"x": batch}),
        Call("embed", "embed", {"x": batch}),
        Call(
            "log_likelihood",
            "log_likelihood",
            {"x": batch, "num_importance_samples": np.int32(500)},
        ),
    ]
    results, imported = run_in_session({"iwae": (path, calls)}, tmp_path / "session")
    served = results["iwae"]
    assert "load_error" not in served, served
    assert not [m for m in imported if m.split(".")[0] == "keras_vae"], imported
    np.testing.assert_allclose(
        served["reconstruct"]["mean"], np.asarray(model.reconstruct(batch)), atol=1e-5
    )
    loc, scale = model.encode(batch)
    np.testing.assert_allclose(served["encode"]["loc"], np.asarray(loc), atol=1e-5)
    np.testing.assert_allclose(served["encode"]["scale"], np.asarray(scale), atol=1e-5)
    np.testing.assert_allclose(served["embed"]["embedding"], np.asarray(loc), atol=1e-5)
    local = model.log_likelihood(batch, num_importance_samples=2000)
    np.testing.assert_allclose(served["log_likelihood"]["log_likelihood"], local, atol=0.3)
