"""VQVAE: loss accounting, codes, likelihoods, quantizer options, export, errors.

`.keras` I/O, config round trips and an XLA `fit` of the default and a
discretized-logistic configuration also run in tests/conformance.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae
from keras_vae.export import export_for_serving
from keras_vae.layers import VectorQuantizer
from keras_vae.layers import VectorQuantizerEMA
from keras_vae.models import VQVAE

SMALL = dict(
    num_embeddings=8,
    embedding_dim=4,
    filters=8,
    residual_units=4,
    num_residual_blocks=1,
    num_downsamples=1,
    seed=1,
)


def _images(n=16, shape=(8, 8, 1), seed=0):
    return np.random.default_rng(seed).uniform(size=(n,) + shape).astype("float32")


def _small(data_shape=(8, 8, 1), **kwargs):
    model = VQVAE(**{**SMALL, **kwargs})
    model.build((None,) + data_shape)
    return model


@pytest.fixture(scope="module")
def trained():
    # Plain VQ without restarts: a training call changes no quantizer state,
    # so training and evaluation terms of the same weights agree.
    keras.utils.set_random_seed(0)
    model = VQVAE(**SMALL, quantizer="vq", restart_dead_codes=False)
    x = _images()
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=True)
    history = model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return model, x, history.history


def _numpy(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def test_xla_fit_logs_loss_as_reconstruction_plus_vq_loss(trained):
    _, _, history = trained
    assert set(history) == {"loss", "reconstruction_loss", "vq_loss", "perplexity", "usage"}
    (loss,), (rec,), (vq,) = history["loss"], history["reconstruction_loss"], history["vq_loss"]
    assert vq > 0 and math.isclose(loss, rec + vq, rel_tol=1e-5)
    assert 1.0 <= history["perplexity"][0] <= 8.0 and 0 < history["usage"][0] <= 1.0


def test_vq_loss_is_counted_once_and_matches_its_definition(trained):
    model, x, _ = trained
    z_e = _numpy(model.encoder(x))
    codes = _numpy(model.encode(x))
    e = _numpy(model.quantizer.embeddings)
    # Nearest codes by brute force.
    dist = ((z_e[..., None, :] - e) ** 2).sum(-1)
    np.testing.assert_array_equal(codes, dist.argmin(-1))
    vq = (1.0 + 0.25) * np.mean((z_e - e[codes]) ** 2)
    terms = model.compute_terms(x, training=True)
    np.testing.assert_allclose(float(terms["vq_loss"]), vq, rtol=1e-4)  # a batch statistic
    total = float(model.compute_loss(x))
    rec = _numpy(terms["reconstruction_loss"])  # per example
    assert rec.shape == (len(x),)
    np.testing.assert_allclose(total, rec.mean() + vq, rtol=1e-5)
    assert abs(total - _numpy(terms["loss"]).mean() - vq) < 1e-6  # once, not twice


def _bincount_statistics(codes, num_codes):
    counts = np.bincount(np.ravel(codes), minlength=num_codes)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())), float(np.mean(counts > 0))


def test_perplexity_and_usage_are_per_batch_bincount_statistics(trained):
    model, x, _ = trained
    codes = _numpy(model.encode(x))
    perplexity, usage = _bincount_statistics(codes, SMALL["num_embeddings"])
    assert 1.0 < perplexity < SMALL["num_embeddings"]  # a non-trivial batch
    logs = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["perplexity"], perplexity, rtol=1e-5)
    np.testing.assert_allclose(logs["usage"], usage, rtol=1e-6)
    # Two batches of 8: the logged value is the mean of the per-batch
    # statistics, not the statistic of the pooled codes.
    halves = [_bincount_statistics(c, SMALL["num_embeddings"]) for c in (codes[:8], codes[8:])]
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["perplexity"], np.mean([h[0] for h in halves]), rtol=1e-5)
    np.testing.assert_allclose(logs["usage"], np.mean([h[1] for h in halves]), rtol=1e-6)


def test_codes_decode_and_reconstruct_agree(trained):
    model, x, _ = trained
    codes = model.encode(x[:5])
    assert codes.dtype == "int32" and tuple(codes.shape) == (5, 4, 4)
    assert model.code_shape == (4, 4)
    images = _numpy(model.decode(_numpy(codes)))
    assert images.shape == (5, 8, 8, 1)
    np.testing.assert_allclose(_numpy(model.reconstruct(x[:5])), images, atol=1e-6)
    np.testing.assert_allclose(_numpy(model(x[:5])), images, atol=1e-5)
    # "mse": each example's reconstruction term is its per-pixel squared error.
    rec = _numpy(model.compute_terms(x)["reconstruction_loss"])
    squared = ((_numpy(model(x)) - x) ** 2).reshape(len(x), -1).mean(-1)
    np.testing.assert_allclose(rec, squared, rtol=1e-5, atol=1e-7)
    # Chunked like the whole batch.
    model.batch_size = 3
    try:
        np.testing.assert_array_equal(_numpy(model.encode(x)), _numpy(model.encode(x[:16])))
        assert model.decode(_numpy(model.encode(x))).shape == x.shape
    finally:
        del model.batch_size


def test_likelihood_terms_are_nats_per_dimension():
    x = (_images(6) > 0.5).astype("float32")
    model = _small(likelihood="bernoulli", quantizer="vq")
    logits = _numpy(model.decoder(model.quantizer.lookup(model.encode(x))))
    log_p = (x * logits - np.logaddexp(0.0, logits)).reshape(6, -1).sum(-1)
    np.testing.assert_allclose(model.reconstruction_log_prob(x), log_p, rtol=1e-5)
    rec = _numpy(model.compute_terms(x)["reconstruction_loss"])
    np.testing.assert_allclose(rec, -log_p / 64, rtol=1e-5)
    # The mean image is the likelihood's mean, sigmoid(logits).
    np.testing.assert_allclose(model.reconstruct(x), 1 / (1 + np.exp(-logits)), atol=1e-6)


def test_discretized_logistic_doubles_the_decoder_channels():
    model = _small(data_shape=(8, 8, 3), likelihood="discretized_logistic")
    assert model.decoder.output_shape == (None, 8, 8, 6)
    x = (np.rint(_images(4, (8, 8, 3)) * 255) / 255).astype("float32")
    assert model.reconstruct(x).shape == (4, 8, 8, 3)
    log_p = _numpy(model.reconstruction_log_prob(x))
    assert log_p.shape == (4,) and np.all(np.isfinite(log_p))
    with pytest.raises(ValueError, match=r"Expected `x` to lie in \[0, 1\]"):
        model.encode(x * 2.0)


def test_quantizer_options():
    ema = VQVAE(**SMALL, decay=0.9, commitment_cost=0.5, kmeans_init=True)
    q = ema.quantizer
    assert type(q) is VectorQuantizerEMA
    assert (q.decay, q.commitment_cost, q.kmeans_init, q.restart_dead_codes) == (
        0.9,
        0.5,
        True,
        True,
    )
    assert type(VQVAE(**SMALL, quantizer="vq").quantizer) is VectorQuantizer
    custom = VectorQuantizer(8, 4, dead_code_steps=3, restart_dead_codes=True)
    model = VQVAE(**SMALL, quantizer=custom)
    assert model.quantizer is custom
    config = model.get_config()
    assert config["quantizer"]["registered_name"] == "keras_vae>VectorQuantizer"
    clone = VQVAE.from_config(config)
    assert clone.quantizer.dead_code_steps == 3 and clone.get_config() == config
    with pytest.raises(ValueError, match=r"num_embeddings=5, embedding_dim=4"):
        VQVAE(**SMALL, quantizer=VectorQuantizer(5, 4))
    with pytest.raises(ValueError, match=r"Received: quantizer='kmeans'"):
        VQVAE(**SMALL, quantizer="kmeans")


def test_keras_file_round_trip_with_a_quantizer_instance(tmp_path):
    model = _small(quantizer=VectorQuantizerEMA(8, 4, decay=0.8, seed=2))
    x = _images(8)
    # No XLA (~5 s a model): the round trip is checked; `trained` fits with XLA.
    model.compile(optimizer="adam", jit_compile=False)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "vqvae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.quantizer) is VectorQuantizerEMA and loaded.quantizer.decay == 0.8
    np.testing.assert_array_equal(loaded.encode(x), model.encode(x))
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)


def test_custom_networks():
    encoder = keras.Sequential([keras.layers.Conv2D(4, 3, strides=3, padding="same")])
    decoder = keras.Sequential([keras.layers.Conv2DTranspose(1, 3, strides=3, padding="same")])
    model = VQVAE(encoder=encoder, decoder=decoder, num_embeddings=8, embedding_dim=4)
    model.build((None, 9, 9, 1))  # 9 is not a power of two: fine for custom nets
    assert model.code_shape == (3, 3)
    assert model.reconstruct(_images(2, (9, 9, 1))).shape == (2, 9, 9, 1)
    assert model.get_config()["encoder"]["class_name"] == "Sequential"
    wrong = keras.Sequential([keras.layers.Conv2D(5, 3, strides=3, padding="same")])
    with pytest.raises(ValueError, match=r"embedding_dim=4\). Received: encoder output"):
        VQVAE(encoder=wrong, num_embeddings=8, embedding_dim=4).build((None, 9, 9, 1))
    flat = keras.Sequential([keras.layers.Conv2DTranspose(2, 3, strides=3, padding="same")])
    with pytest.raises(ValueError, match=r"Expected the decoder to output"):
        VQVAE(encoder=encoder, decoder=flat, num_embeddings=8, embedding_dim=4).build(
            (None, 9, 9, 1)
        )


def test_export_has_the_vq_signatures_only(trained, tmp_path):
    model, x, _ = trained
    path = export_for_serving(model, tmp_path / "vqvae")
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"reconstruct", "codes", "decode_codes", "serving_default"}
    codes = loaded.signatures["codes"](x=tf.constant(x[:4]))["indices"]
    assert codes.dtype == tf.int32
    np.testing.assert_array_equal(codes, model.encode(x[:4]))
    out = loaded.signatures["decode_codes"](indices=codes)["mean"]
    np.testing.assert_allclose(out, model.decode(codes.numpy()), atol=1e-5)
    out = loaded.signatures["reconstruct"](x=tf.constant(x[:4]))["mean"]
    np.testing.assert_allclose(out, model.reconstruct(x[:4]), atol=1e-5)
    with pytest.raises(ValueError, match=r"Received: signatures=\['log_likelihood'\]"):
        export_for_serving(model, tmp_path / "again", signatures=("log_likelihood",))


def test_codebook_usage_reads_the_codes(trained):
    model, x, _ = trained
    result = keras_vae.diagnostics.codebook_usage(model, x, batch_size=5)
    counts = np.bincount(_numpy(model.encode(x)).ravel(), minlength=8)
    np.testing.assert_array_equal(result.counts, counts)
    p = counts[counts > 0] / counts.sum()
    np.testing.assert_allclose(result.perplexity, np.exp(-(p * np.log(p)).sum()), rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*num_downsamples=4"):
        VQVAE(**{**SMALL, "num_downsamples": 2}).build((None, 6, 8, 1))
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        VQVAE(**SMALL).build((None, 8, 8))
    with pytest.raises(ValueError, match=r"Received: num_residual_blocks=-1"):
        VQVAE(**{**SMALL, "num_residual_blocks": -1})
    with pytest.raises(ValueError, match=r"Received: likelihood='l1'"):
        VQVAE(**SMALL, likelihood="l1")
    model = _small()
    with pytest.raises(ValueError, match=r"Received: x.shape=\(2, 6, 6, 1\)"):
        model.encode(np.zeros((2, 6, 6, 1), "float32"))
    with pytest.raises(ValueError, match=r"integer code indices. Received: indices of dtype"):
        model.decode(np.zeros((2, 4, 4), "float32"))
    out_of_range = np.zeros((2, 4, 4), "int64")
    out_of_range[1, 2, 3] = 8
    with pytest.raises(ValueError, match=r"Received: values in \[0, 8\]"):
        model.decode(out_of_range)
    with pytest.raises(ValueError, match=r"Received: indices.shape=\(2, 3, 4\)"):
        model.decode(np.zeros((2, 3, 4), "int32"))
    # An `Autoencoder`, not a `LatentVariableModel`: no likelihood estimate.
    assert not hasattr(model, "log_likelihood")
    with pytest.raises(TypeError, match="PixelCNN"):
        keras_vae.diagnostics.log_likelihood(model, _images(2), num_importance_samples=2)
    with pytest.raises(ValueError, match="Received: likelihood='mse'"):
        model.reconstruction_log_prob(_images(2))
    with pytest.raises(ValueError, match="not built"):
        VQVAE(**SMALL).decode(np.zeros((1, 4, 4), "int32"))
