"""host_batches / example_rank: the batching every diagnostic shares."""

import numpy as np
import pytest
import tensorflow as tf

from keras_vae.diagnostics import example_rank
from keras_vae.diagnostics import host_batches


def _x(n=23):
    return np.random.default_rng(0).normal(size=(n, 3, 2)).astype("float32")


def _sources(x):
    slices = tf.data.Dataset.from_tensor_slices
    return {
        "array": x,
        "tensor": tf.constant(x),
        "list": x.tolist(),
        "unbatched dataset": slices(x),
        "batched dataset": slices(x).batch(5),
        "(x, y) dataset": slices((x, np.zeros(len(x)))).batch(4),
        "dataset of unknown element shape": slices(x)
        .batch(6)
        .map(lambda e: tf.reshape(e, tf.shape(e))),
        "iterator of batches": iter([x[:10], x[10:11], x[11:]]),
    }


@pytest.mark.parametrize("source", sorted(_sources(_x())))
@pytest.mark.parametrize("batch_size, max_examples", [(7, None), (1, 3), (50, None), (4, 9)])
def test_batches_are_the_examples_in_order(source, batch_size, max_examples):
    x = _x()
    batches = list(host_batches(_sources(x)[source], batch_size, 2, max_examples))
    want = x[:max_examples]
    sizes = [len(b) for b in batches]
    # Every batch but the last holds exactly `batch_size` examples.
    assert sizes == [batch_size] * (len(want) // batch_size) + (
        [len(want) % batch_size] if len(want) % batch_size else []
    )
    np.testing.assert_array_equal(np.concatenate(batches), want)


def test_example_rank_decides_what_an_element_is():
    # Elements of shape (3, 2): a batch of three 2-vectors, or one 3 x 2 example.
    dataset = tf.data.Dataset.from_tensor_slices(_x(4))
    assert [b.shape for b in host_batches(dataset, 8, example_rank=1)] == [
        (8, 2),
        (4, 2),
    ]
    assert [b.shape for b in host_batches(dataset, 8, example_rank=2)] == [(4, 3, 2)]


def test_example_rank_of_a_model():
    class Model:
        data_shape = (28, 28, 1)

    assert example_rank(Model()) == 3
    assert example_rank(object()) is None


@pytest.mark.parametrize(
    "data, kwargs, error, message",
    [
        (np.zeros((0, 2)), {}, ValueError, r"at least one example"),
        (np.array(1.0), {}, ValueError, r"leading examples axis"),
        ("abc", {}, TypeError, r"numpy array.*Received: data of type str"),
        (
            tf.data.Dataset.from_tensor_slices(np.zeros((4, 3, 2, 1))),
            {"example_rank": 1},
            ValueError,
            r"rank 1 \(one example\) or 2 \(a batch\)",
        ),
        (np.zeros((3, 2)), {"batch_size": 0}, ValueError, r"`batch_size`"),
        (np.zeros((3, 2)), {"max_examples": 0}, ValueError, r"`max_examples`"),
    ],
)
def test_bad_data_raise(data, kwargs, error, message):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises(error, match=message):
        list(host_batches(data, **kwargs))
