"""A likelihood declares its data's support and whether the data are binary.

The models read the declaration (`Likelihood.support`, `Likelihood.binary`)
for their data checks (`fit`, the in-step guard, the exported signatures)
and for `dynamic_binarization`, so a user's own likelihood gets the same
treatment as the built-in ones.
"""

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import keras_vae
from keras_vae.export import export_for_serving
from keras_vae.likelihoods import Likelihood
from keras_vae.models import VAE
from keras_vae.testing.checks import assert_untrained
from keras_vae.testing.checks import weights_snapshot

SHAPE = (4, 4, 1)


@keras.saving.register_keras_serializable(package="test_support")
class SignedLaplace(Likelihood):
    """Unit-scale Laplace around tanh(params): data in [-1, 1]."""

    support = (-1.0, 1.0)

    def _log_prob_elementwise(self, x, params):
        return -ops.abs(x - ops.tanh(params)) - math.log(2.0)

    def mean(self, params):
        return ops.tanh(ops.cast(params, "float32"))


class BinaryLaplace(SignedLaplace):
    support = (0.0, 1.0)
    binary = True


def signed(n=32, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n,) + SHAPE).astype("float32")


def make_model(likelihood=None, **kwargs):
    model = VAE(
        latent_dim=2,
        hidden_units=(8,),
        likelihood=SignedLaplace() if likelihood is None else likelihood,
        seed=0,
        **kwargs,
    )
    model.compile(optimizer="adam", jit_compile=False, steps_per_execution=1)
    return model


def test_built_in_declarations():
    lik = keras_vae.likelihoods
    assert (lik.Bernoulli.support, lik.Bernoulli.binary) == ((0.0, 1.0), True)
    assert (lik.DiscretizedLogistic.support, lik.DiscretizedLogistic.binary) == ((0.0, 1.0), False)
    assert (lik.Gaussian.support, lik.Gaussian.binary) == (None, False)
    assert (Likelihood.support, Likelihood.binary) == (None, False)
    assert VAE(likelihood="gaussian").data_support() is None
    assert VAE(likelihood="discretized_logistic").data_support() == (0.0, 1.0)


def test_fit_accepts_data_inside_a_user_declared_support():
    model = make_model()
    history = model.fit(signed(), epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert model.data_support() == (-1.0, 1.0)


def test_fit_refuses_arrays_outside_a_user_declared_support():
    model = make_model()
    model.build((None,) + SHAPE)
    before = weights_snapshot(model)
    x = signed()
    x[3, 0, 0, 0] = 1.5
    with pytest.raises(ValueError, match=re.escape("Expected `x` to lie in [-1, 1]")) as info:
        model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert "SignedLaplace likelihood" in str(info.value)
    assert "max=1.5" in str(info.value)
    assert_untrained(model, before)


def test_fit_refuses_streamed_batches_outside_a_user_declared_support():
    # Checked inside the compiled step: the bad batch does not train.
    model = make_model()
    model.build((None,) + SHAPE)
    before = weights_snapshot(model)
    x = signed() - 0.5  # min < -1
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    with pytest.raises(ValueError, match=re.escape("Expected `x` to lie in [-1, 1]")):
        model.fit(dataset, epochs=1, verbose=0)
    assert_untrained(model, before)


@pytest.mark.tensorflow_only(reason="export_for_serving traces TensorFlow graphs")
def test_the_export_checks_a_user_declared_support(tmp_path):
    model = make_model()
    x = signed(8)
    model.build((None,) + SHAPE)
    path = export_for_serving(model, tmp_path / "signed", signatures=("reconstruct",))
    reconstruct = tf.saved_model.load(path).signatures["reconstruct"]
    np.testing.assert_allclose(
        reconstruct(x=tf.constant(x))["mean"], model.reconstruct(x), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape("Expected `x` in [-1, 1]")):
        reconstruct(x=tf.constant(x * 2.0))


@pytest.mark.parametrize(
    "attributes",
    [{"support": (1.0, 0.0)}, {"support": "unit"}, {"support": (0.0,)}, {"binary": "yes"}],
    ids=["reversed", "string", "one_bound", "binary_not_bool"],
)
def test_bad_declarations_are_refused_at_construction(attributes):
    bad = type("BadLikelihood", (SignedLaplace,), dict(attributes))
    with pytest.raises(ValueError, match="Expected the `(support|binary)"):
        make_model(likelihood=bad())


def test_dynamic_binarization_follows_the_binary_declaration():
    model = make_model(likelihood=BinaryLaplace(), dynamic_binarization=True)
    assert model.dynamic_binarization
    with pytest.raises(ValueError, match="Expected a likelihood of binary data") as info:
        make_model(dynamic_binarization=True)
    assert "likelihood=SignedLaplace" in str(info.value)
