"""Serving signatures of a conditional `VAE(num_classes=...)` and `embed`,
checked on TF Serving's session loader (`keras_vae.testing.serving`)."""

import keras
import numpy as np
import pytest

from keras_vae.export import available_signatures
from keras_vae.export import export_for_serving
from keras_vae.likelihoods import Gaussian
from keras_vae.models import VAE
from keras_vae.testing.linear_gaussian import linear_gaussian_vae
from keras_vae.testing.serving import Call
from keras_vae.testing.serving import run_in_session

pytestmark = pytest.mark.tensorflow_only(reason="export_for_serving writes a TF SavedModel")

CLASSES = 3
CONDITIONAL = ("encode", "decode", "reconstruct", "sample", "log_likelihood", "embed")


def zero_condition_weights_model():
    """A conditional linear-Gaussian VAE whose weights on c are zero, with
    the exact posterior: log p(x | c) = log p(x), in closed form."""
    base, exact_log_px = linear_gaussian_vae(2, 5, scale=0.5, seed=4)
    model = VAE(
        encoder=keras.Sequential([keras.layers.Flatten()]),
        decoder=keras.Sequential([keras.layers.Dense(5)]),
        latent_dim=2,
        likelihood=Gaussian(scale=0.5),
        min_log_var=base.min_log_var,
        max_log_var=base.max_log_var,
        num_classes=CLASSES,
        seed=4,
    )
    model.build((None, 5))
    zeros = np.zeros((CLASSES, 5), "float32")
    dense, base_dense = model.decoder.layers[0], base.decoder.layers[0]
    dense.kernel.assign(np.concatenate([keras.ops.convert_to_numpy(base_dense.kernel), zeros]))
    dense.bias.assign(base_dense.bias)
    head = keras.ops.convert_to_numpy(base.posterior.kernel)
    model.posterior.kernel.assign(np.concatenate([head, np.zeros((CLASSES, 4), "float32")]))
    model.posterior.bias.assign(base.posterior.bias)
    return model, exact_log_px


def test_conditional_and_embed_signatures_on_the_session_loader(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(6, 4, 4, 1)) < 0.4).astype("float32")
    y = rng.integers(0, CLASSES, size=6)
    c = np.eye(CLASSES, dtype="float32")[y]
    model = VAE(latent_dim=2, hidden_units=(8,), num_classes=CLASSES, seed=0)
    model.build((None, 4, 4, 1))
    assert available_signatures(model) == CONDITIONAL
    path = export_for_serving(model, tmp_path / "cvae", chunk_size=4)
    z = rng.normal(size=(6, 2)).astype("float32")
    exact, exact_log_px = zero_condition_weights_model()
    exact_path = export_for_serving(exact, tmp_path / "exact", signatures="log_likelihood")
    data = rng.normal(size=(6, 5)).astype("float32")
    calls = [
        Call("encode", "encode", {"x": x, "condition": c}),
        Call("decode", "decode", {"z": z, "condition": c}),
        Call("reconstruct", "reconstruct", {"x": x, "condition": c}),
        Call("embed", "embed", {"x": x, "condition": c}),
        Call("sample", "sample", {"condition": c}),
        Call("width", "encode", {"x": x, "condition": c[:, :2]}, raw=True),
        Call("rows", "reconstruct", {"x": x, "condition": c[:4]}, raw=True),
        Call("nan", "embed", {"x": x, "condition": np.full_like(c, np.nan)}, raw=True),
    ]
    exact_call = Call(
        "log_px", "log_likelihood", {"x": data, "condition": c, "num_importance_samples": 9}
    )
    # `embed` of an unconditional model, in the same session-loader run.
    plain = VAE(latent_dim=3, hidden_units=(8,), seed=0)
    plain.build((None, 4, 4, 1))
    plain_path = export_for_serving(plain, tmp_path / "vae", signatures=("embed", "encode"))
    embeds = [Call("first", "embed", {"x": x}), Call("second", "embed", {"x": x})]
    served, imported = run_in_session(
        {
            "cvae": (path, calls),
            "exact": (exact_path, [exact_call]),
            "vae": (plain_path, embeds),
        },
        tmp_path,
    )
    assert "keras_vae" not in imported
    out = served["cvae"]
    loc, scale = model.encode(x, condition=y)
    np.testing.assert_allclose(out["encode"]["loc"], loc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["encode"]["scale"], scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["embed"]["embedding"], loc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out["decode"]["mean"], model.decode(z, condition=c), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        out["reconstruct"]["mean"], model.reconstruct(x, condition=y), rtol=1e-5, atol=1e-6
    )
    drawn = out["sample"]
    assert drawn["z"].shape == (6, 2) and drawn["mean"].shape == (6, 4, 4, 1)
    np.testing.assert_allclose(
        drawn["mean"], model.decode(drawn["z"], condition=c), rtol=1e-5, atol=1e-6
    )
    for key, message in (
        ("width", "Expected `condition` of shape (batch, 3)"),
        ("rows", "Expected `condition` with one row per example of `x`"),
        ("nan", "Expected `condition` to be finite"),
    ):
        got = out[key]
        assert isinstance(got, str), f"{key} was accepted"
        assert got.startswith("InvalidArgumentError") and message in got, (key, got[:800])
    # Zero weights on c and the exact posterior: log p(x | c) = log p(x).
    np.testing.assert_allclose(
        served["exact"]["log_px"]["log_likelihood"], exact_log_px(data), atol=1e-4
    )
    first, second = (served["vae"][key]["embedding"] for key in ("first", "second"))
    np.testing.assert_array_equal(first, second)  # deterministic
    np.testing.assert_allclose(first, plain.encode(x)[0], rtol=1e-5, atol=1e-6)
