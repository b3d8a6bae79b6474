"""Tests of the conditional `VAE(num_classes=...)` and of `embed`.

The oracle is a conditional linear-Gaussian model, whose log p(x | c) is a
Gaussian density in closed form:

```none
p(z) = N(0, I),   p(x | z, c) = N(W z + V c + b, s^2 I)
p(x | c) = N(x; V c + b, W W^T + s^2 I) = p_0(x - V c)
p(z | x, c) = N(Sigma W^T (x - V c - b) / s^2, Sigma)
```

where p_0 is the unconditional model of `keras_vae.testing.linear_gaussian`.
With q(z | x, c) set to the exact posterior every importance weight equals
p(x | c), so `log_likelihood` must match the density for any sample count.
"""

import keras
import numpy as np
import pytest

from keras_vae.likelihoods import Gaussian
from keras_vae.models import VAE
from keras_vae.testing.linear_gaussian import linear_gaussian_vae

SHAPE = (4, 4, 1)
CLASSES = 3


def make_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=n)
    # Each class lights a different band of rows: the condition informs x.
    x = rng.uniform(size=(n,) + SHAPE) < 0.15
    for k in range(CLASSES):
        x[y == k, k, :, 0] |= rng.uniform(size=(int(np.sum(y == k)), SHAPE[1])) < 0.9
    return x.astype("float32"), y


def small_cvae(**kwargs):
    kwargs = {"latent_dim": 2, "hidden_units": (8,), "num_classes": CLASSES, "seed": 0, **kwargs}
    return VAE(**kwargs)


def one_hot(y, n=CLASSES):
    return np.eye(n, dtype="float32")[y]


def conditional_linear_gaussian(v_scale, seed=0, latent_dim=2, data_dim=5):
    """The conditional linear-Gaussian VAE with the exact posterior, and its
    exact log p(x | c) for one-hot rows c (numpy oracle)."""
    base, exact_log_px = linear_gaussian_vae(latent_dim, data_dim, scale=0.5, seed=seed)
    w_t = keras.ops.convert_to_numpy(base.decoder.layers[0].kernel)  # (d, D)
    b = keras.ops.convert_to_numpy(base.decoder.layers[0].bias)
    head = keras.ops.convert_to_numpy(base.posterior.kernel)  # (D, 2d)
    head_bias = keras.ops.convert_to_numpy(base.posterior.bias)
    v_t = (np.random.default_rng(seed + 1).normal(size=(CLASSES, data_dim)) * v_scale).astype(
        "float32"
    )  # rows: V^T, c V^T = V c
    model = VAE(
        encoder=keras.Sequential([keras.layers.Flatten()]),
        decoder=keras.Sequential([keras.layers.Dense(data_dim)]),
        latent_dim=latent_dim,
        likelihood=Gaussian(scale=0.5),
        min_log_var=base.min_log_var,
        max_log_var=base.max_log_var,
        num_classes=CLASSES,
        seed=seed,
    )
    model.build((None, data_dim))
    model.decoder.layers[0].kernel.assign(np.concatenate([w_t, v_t], axis=0))
    model.decoder.layers[0].bias.assign(b)
    # loc = (x - V c - b) K: the condition's rows are -V^T K; log-variance
    # does not depend on x or c.
    loc_kernel = head[:, :latent_dim]
    c_rows = np.concatenate([-v_t @ loc_kernel, np.zeros((CLASSES, latent_dim))], axis=1)
    model.posterior.kernel.assign(np.concatenate([head, c_rows], axis=0).astype("float32"))
    model.posterior.bias.assign(head_bias)

    def exact(x, c):
        return exact_log_px(x - c @ v_t)

    return model, exact, base


@pytest.mark.parametrize("v_scale", [0.0, 1.0])
def test_log_likelihood_matches_the_closed_form(v_scale):
    model, exact, base = conditional_linear_gaussian(v_scale)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 5)).astype("float32")
    y = rng.integers(0, CLASSES, size=7)
    want = exact(x, one_hot(y))
    got = model.log_likelihood(x, num_importance_samples=13, chunk_size=5, condition=y)
    np.testing.assert_allclose(got, want, atol=1e-4)
    # Float vectors (here soft labels) are used as they are.
    soft = rng.dirichlet(np.ones(CLASSES), size=7).astype("float32")
    got = model.log_likelihood(x, num_importance_samples=7, chunk_size=5, condition=soft)
    np.testing.assert_allclose(got, exact(x, soft), atol=1e-4)
    if v_scale == 0.0:
        # Zero weights on c: the unconditional model's likelihood and posterior.
        np.testing.assert_allclose(got, base.log_likelihood(x, 7, chunk_size=5), atol=1e-4)
        np.testing.assert_allclose(model.embed(x, condition=y), base.embed(x), atol=1e-6)


def test_fit_with_class_ids_trains_a_conditional_model():
    x, y = make_data()
    model = small_cvae()
    model.compile(optimizer="adam", jit_compile=False)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x[:16], y[:16]))
    assert np.all(np.isfinite(history.history["loss"]))
    assert "val_elbo" in history.history
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert np.isfinite(result["elbo"])
    # predict((x, c)) is the deterministic reconstruction at E_q[z | x, c].
    predicted = model.predict((x[:5], y[:5]), verbose=0)
    np.testing.assert_allclose(predicted, model.reconstruct(x[:5], condition=y[:5]), atol=1e-6)
    # Ids and their one-hot rows are the same condition.
    np.testing.assert_allclose(
        model.encode(x[:5], condition=y[:5])[0],
        model.encode(x[:5], condition=one_hot(y[:5]))[0],
        atol=1e-6,
    )
    # The decoder reads c: two classes decode the same z differently.
    z = np.zeros((1, 2), "float32")
    assert not np.allclose(model.decode(z, condition=[0]), model.decode(z, condition=[1]))
    assert tuple(model.sample(4, condition=2).shape) == (4,) + SHAPE
    assert tuple(model.sample(3, condition=[0, 1, 2]).shape) == (3,) + SHAPE


def test_streams_yield_x_and_its_condition():
    import tensorflow as tf

    x, y = make_data()
    model = small_cvae()
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model.fit(dataset, epochs=1, verbose=0)

    def batches():
        for i in range(0, len(x), 16):
            yield x[i : i + 16], one_hot(y[i : i + 16])

    model.fit(batches(), epochs=1, verbose=0)
    model.evaluate(dataset, verbose=0)


def test_missing_or_unexpected_condition_is_refused_before_training():
    x, y = make_data(16)
    model = small_cvae()
    model.compile(optimizer="adam", jit_compile=False)
    missing = r"Expected `y` for a conditional model \(num_classes=3\).*Received: y=None"
    with pytest.raises(ValueError, match=missing):
        model.fit(x, epochs=1, verbose=0)
    weights = [keras.ops.convert_to_numpy(v) for v in model.weights]
    cases = [
        (lambda: model.fit(x, y + 1, verbose=0), r"class ids in \[0, 3\).*max=3"),
        (lambda: model.fit(x, y[:5], verbose=0), r"one row per example of `x` \(16\)"),
        (lambda: model.fit(x, y.astype("float32"), verbose=0), r"Received: y.shape=\(16,\)"),
        (lambda: model.fit(x, one_hot(y)[:, :2], verbose=0), r"shape \(batch, 3\)"),
        (lambda: model.fit(x, y, validation_data=(x, None), verbose=0), "validation_data"),
        (lambda: model.encode(x), r"Expected `condition`.*Received: condition=None"),
        (lambda: model.sample(2), r"Expected `condition`"),
        (lambda: model.log_likelihood(x, 5), r"Expected `condition`"),
        (lambda: model.embed(x, condition=[0]), r"one row per example of `x` \(16\)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    plain = VAE(latent_dim=2, hidden_units=(8,), seed=0)
    with pytest.raises(ValueError, match="keras_vae models are unconditional"):
        plain.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"Expected no `condition`"):
        plain.encode(x, condition=y)


def test_a_stream_batch_with_a_bad_class_id_skips_its_update():
    import tensorflow as tf

    from keras_vae.callbacks import NonFiniteLossError

    x, y = make_data(32)
    model = small_cvae()
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    model.build((None,) + SHAPE)
    weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    bad = tf.data.Dataset.from_tensor_slices((x, y + CLASSES)).batch(16)
    with pytest.raises(NonFiniteLossError, match="epoch 0, batch 0"):
        model.fit(bad, epochs=1, verbose=0)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    no_condition = tf.data.Dataset.from_tensor_slices(x).batch(16)
    with pytest.raises(ValueError, match=r"Expected `y` for a conditional model"):
        model.fit(no_condition, epochs=1, verbose=0)
    floats = tf.data.Dataset.from_tensor_slices((x, y.astype("float32"))).batch(16)
    with pytest.raises(ValueError, match=r"Received: y of dtype float32, shape \(None,\)"):
        model.fit(floats, epochs=1, verbose=0)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match=r"Received: num_classes=0"):
        VAE(num_classes=0)
    from keras_vae.priors import VampPrior

    with pytest.raises(ValueError, match=r"prior=VampPrior, num_classes=3"):
        VAE(prior=VampPrior(4), num_classes=3)
    from keras_vae.models import VHPVAE

    # A subclass whose hooks take no condition cannot be conditional.
    with pytest.raises(ValueError, match=r"num_classes=3 for VHPVAE"):
        VHPVAE(latent_dim=2, hidden_units=(8,), kappa=3.0, num_classes=3)


def test_config_and_keras_file_round_trip(tmp_path):
    x, y = make_data(16)
    model = small_cvae(encoder=keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(6)]))
    model.build((None,) + SHAPE)
    assert model.get_config()["num_classes"] == CLASSES
    clone = VAE.from_config(model.get_config())
    clone.build((None,) + SHAPE)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        clone.reconstruct(x, condition=y), model.reconstruct(x, condition=y), atol=1e-6
    )
    path = str(tmp_path / "cvae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.num_classes == CLASSES
    np.testing.assert_allclose(loaded.embed(x, condition=y), model.embed(x, condition=y))
    np.testing.assert_allclose(
        loaded.decode(np.ones((2, 2), "float32"), condition=[0, 2]),
        model.decode(np.ones((2, 2), "float32"), condition=[0, 2]),
    )


def test_embed_is_the_deterministic_posterior_mean():
    from keras_vae.models import HierarchicalVAE

    x, _ = make_data(6)
    model = VAE(latent_dim=3, hidden_units=(8,), seed=0)
    first, second = model.embed(x), model.embed(x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, model.encode(x)[0])
    assert tuple(first.shape) == (6, 3)
    hvae = HierarchicalVAE(latent_dims=(3, 2), hidden_units=8, seed=0)
    (loc1, _), (loc2, _) = hvae.encode(x)
    np.testing.assert_allclose(hvae.embed(x), np.concatenate([loc1, loc2], axis=-1))
