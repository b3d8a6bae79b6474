"""The networks of the two-level hierarchical VAE: shapes, sizes, serialization."""

import json

import keras
import numpy as np
import pytest

from keras_vae.models import gated_conv_hvae_networks
from keras_vae.models import gated_mlp_hvae_networks

KEYS = {"encoder_z2", "encoder_z1_x", "encoder_z1_joint", "prior_z1", "decoder"}
BUILDERS = [gated_mlp_hvae_networks, gated_conv_hvae_networks]
BATCH = 2


def gated_dense_params(n_in, units):
    """Fused kernel (n_in, 2 units) and bias (2 units)."""
    return n_in * 2 * units + 2 * units


def dense_params(n_in, units):
    return n_in * units + units


def inputs_for(nets, data_shape, z1_dim, z2_dim, seed=0):
    """Random inputs of each network, keyed like the networks."""
    rng = np.random.RandomState(seed)

    def normal(*shape):
        return rng.normal(size=(BATCH,) + shape).astype("float32")

    x = rng.uniform(size=(BATCH,) + tuple(data_shape)).astype("float32")
    x_features = nets["encoder_z1_x"].output.shape[-1]
    return {
        "encoder_z2": x,
        "encoder_z1_x": x,
        "encoder_z1_joint": [normal(x_features), normal(z2_dim)],
        "prior_z1": normal(z2_dim),
        "decoder": [normal(z1_dim), normal(z2_dim)],
    }


@pytest.mark.parametrize(
    "builder, features",
    [(gated_mlp_hvae_networks, (300, 300)), (gated_conv_hvae_networks, (294, 294))],
)
def test_output_shapes_on_mnist(builder, features):
    nets = builder((28, 28, 1))
    assert set(nets) == KEYS
    data = inputs_for(nets, (28, 28, 1), 40, 40)
    expected = {
        "encoder_z2": (BATCH, features[0]),
        "encoder_z1_x": (BATCH, features[1]),
        "encoder_z1_joint": (BATCH, 300),
        "prior_z1": (BATCH, 300),
        "decoder": (BATCH, 28, 28, 1),
    }
    for key, model in nets.items():
        assert model.name == key
        assert tuple(model(data[key]).shape) == expected[key], key


@pytest.mark.parametrize("builder", BUILDERS)
def test_sizes_are_wired_to_the_right_inputs(builder):
    # Distinct sizes and an odd, multi-channel image catch swapped arguments.
    shape, z1_dim, z2_dim, units = (10, 9, 3), 3, 5, 7
    nets = builder(shape, latent_dims=(z1_dim, z2_dim), hidden_units=units)
    data = inputs_for(nets, shape, z1_dim, z2_dim)
    out = {key: tuple(model(data[key]).shape) for key, model in nets.items()}
    # Two stride-2 convolutions: ceil(ceil(10 / 2) / 2) x ceil(ceil(9 / 2) / 2).
    features = units if builder is gated_mlp_hvae_networks else 6 * 3 * 3
    assert out == {
        "encoder_z2": (BATCH, features),
        "encoder_z1_x": (BATCH, features),
        "encoder_z1_joint": (BATCH, units),
        "prior_z1": (BATCH, units),
        "decoder": (BATCH,) + shape,
    }


def test_mlp_parameter_counts_match_the_layer_sizes():
    d, z1, z2, u = 784, 40, 32, 300
    nets = gated_mlp_hvae_networks((28, 28, 1), latent_dims=(z1, z2), hidden_units=u)
    expected = {
        "encoder_z2": gated_dense_params(d, u) + gated_dense_params(u, u),
        "encoder_z1_x": gated_dense_params(d, u),
        "encoder_z1_joint": gated_dense_params(z2, u) + gated_dense_params(2 * u, u),
        "prior_z1": gated_dense_params(z2, u) + gated_dense_params(u, u),
        "decoder": gated_dense_params(z1, u)
        + gated_dense_params(z2, u)
        + gated_dense_params(2 * u, u)
        + dense_params(u, d),
    }
    assert {key: model.count_params() for key, model in nets.items()} == expected


def test_conv_joint_encoder_maps_z2_to_the_width_of_h_x():
    z2, u, fx = 32, 300, 294
    nets = gated_conv_hvae_networks((28, 28, 1), latent_dims=(40, z2), hidden_units=u)
    expected = gated_dense_params(z2, fx) + gated_dense_params(2 * fx, u)
    assert nets["encoder_z1_joint"].count_params() == expected


@pytest.mark.parametrize("builder", BUILDERS)
def test_decoder_outputs_logits(builder):
    # Probabilities (a sigmoid output) are never negative; logits can be.
    nets = builder((8, 8, 1), latent_dims=(4, 4), hidden_units=16)
    rng = np.random.RandomState(0)
    z = [3.0 * rng.normal(size=(16, 4)).astype("float32") for _ in range(2)]
    logits = keras.ops.convert_to_numpy(nets["decoder"](z))
    assert logits.min() < 0.0 and logits.max() > 0.0


@pytest.mark.parametrize("data_shape", [(784,), (28, 28), (2, 28, 28, 1)])
def test_conv_rejects_non_image_shapes(data_shape):
    with pytest.raises(ValueError, match="image shape") as info:
        gated_conv_hvae_networks(data_shape)
    assert f"Received: data_shape={data_shape!r}" in str(info.value)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("data_shape", [(), (28, 0, 1), (28.0, 28, 1), "28x28", None])
def test_bad_data_shape_raises(builder, data_shape):
    with pytest.raises(ValueError, match="positive integers"):
        builder(data_shape)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize(
    "name, value",
    [("latent_dims", (0, 40)), ("latent_dims", (40, 0)), ("hidden_units", 0)],
)
def test_bad_sizes_raise(builder, name, value):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        builder((8, 8, 1), **{name: value})


@pytest.mark.parametrize("builder", BUILDERS)
def test_serialization_round_trip_gives_same_outputs(builder):
    shape, z1_dim, z2_dim = (8, 8, 1), 3, 4
    nets = builder(shape, latent_dims=(z1_dim, z2_dim), hidden_units=16)
    data = inputs_for(nets, shape, z1_dim, z2_dim)
    for key, model in nets.items():
        assert type(model).__name__ == "Functional", key
        serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        clone = keras.saving.deserialize_keras_object(serialized)
        assert type(clone) is type(model) and clone.name == key
        assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
        # The clone has fresh weights: outputs agree only once they are copied.
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(clone(data[key])),
            keras.ops.convert_to_numpy(model(data[key])),
            rtol=1e-6,
            atol=1e-6,
            err_msg=key,
        )
