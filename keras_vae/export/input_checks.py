"""In-graph input checks of the serving signatures (TensorFlow-only module).

A SavedModel served by TF Serving's C++ server (or run through
`tf.compat.v1.Session`) does not go through the models' Python checks, and
the server does not compare a request's shape with the signature's
`TensorSpec`: an `(n, 4, 4, 4)` batch fed to an 8x8x1 model flattens to the
same 64 features and would return a result. Each check here is a graph op
(`tf.debugging.Assert`) that the signature's outputs depend on, so a bad
request fails with an `InvalidArgumentError` whose message names the input
and the rule, on every loading path.

The checks read a request's shape at run time, never from the signature:
TensorFlow's graph optimizer (grappler) folds `tf.shape`, `tf.size` and the
axes of a full reduction of a tensor whose static shape it knows, and the
placeholder of a signature input has one (`(None, 6)`), which a raw request
of another rank (`(n, 6, 1)`) does not obey. Each check therefore reads its
input through `tf.compat.v1.placeholder_with_default(value, shape=None)`,
whose static shape is unknown, so that every condition is computed from the
fed tensor and is a scalar whatever its rank.
"""

import tensorflow as tf

from keras_vae.likelihoods.likelihood import support_of

# How many values of a failing input's shape, min or max the message shows.
_SUMMARIZE = 16


def likelihood_support(likelihood):
    """`(low, high, description)` of the data a likelihood scores, or `None`.

    The likelihood's declared `support` (see
    `keras_vae.likelihoods.Likelihood`): `(0, 1)` for `Bernoulli` (binary or
    relaxed in [0, 1]) and `DiscretizedLogistic` (intensities scaled to
    [0, 1]); `None`, any finite value, for a `Gaussian` or the VQVAE's
    squared error (`likelihood=None`).

    (No apostrophes in messages: TensorFlow escapes them in assertion text.)
    """
    support = support_of(likelihood)
    if support is None:
        return None
    return (*support, f"the support of the {type(likelihood).__name__} likelihood")


def _assert(condition, message, *data):
    return tf.debugging.Assert(condition, [message, *data], summarize=_SUMMARIZE)


def _checked(value, asserts):
    with tf.control_dependencies(asserts):
        return tf.identity(value)


def _fed(value):
    """`value` with an unknown static shape (see the module docstring)."""
    return tf.compat.v1.placeholder_with_default(value, shape=None)


def check_shape(value, name, inner_shape):
    """Assert `value` has shape `(batch,) + inner_shape` at run time."""
    inner = tuple(int(d) for d in inner_shape)
    rank = len(inner) + 1
    shape = tf.shape(_fed(value), out_type=tf.int32)
    # Pad so the slice is defined whatever the received rank.
    padded = tf.concat([shape, tf.zeros([rank], tf.int32)], axis=0)[1:rank]
    same = tf.logical_and(
        tf.equal(tf.size(shape), rank),
        tf.reduce_all(tf.equal(padded, tf.constant(inner, tf.int32))),
    )
    expected = "(batch, " + ", ".join(str(d) for d in inner) + ")"
    return _assert(same, f"Expected `{name}` of shape {expected}. Received: {name}.shape=", shape)


def check_scalar(value, name):
    """Assert `value` is a scalar (shape `()`) at run time."""
    shape = tf.shape(_fed(value), out_type=tf.int32)
    return _assert(
        tf.equal(tf.size(shape), 0),
        f"Expected `{name}` to be a scalar. Received: {name}.shape=",
        shape,
    )


def check_finite(value, name):
    """Assert every value is finite (no NaN or infinity)."""
    return _assert(
        tf.reduce_all(tf.math.is_finite(_fed(value))),
        f"Expected `{name}` to be finite (no NaN or Inf). Received: a non-finite value",
    )


def check_range(value, name, low, high, what):
    """Assert `low <= value <= high` elementwise (`what` names the rule)."""
    value = _fed(value)
    inside = tf.logical_and(value >= low, value <= high)
    return _assert(
        tf.reduce_all(inside),
        f"Expected `{name}` in [{low:g}, {high:g}] ({what}). Received: min, max =",
        tf.reduce_min(value),
        tf.reduce_max(value),
    )


def data_input(x, name, data_shape, likelihood):
    """`x` after its shape, finiteness and support checks."""
    # Chained, so a request breaking several rules reports the first one.
    asserts = [check_shape(x, name, data_shape)]
    with tf.control_dependencies(asserts):
        asserts.append(check_finite(x, name))
    support = likelihood_support(likelihood)
    if support is not None:
        with tf.control_dependencies(asserts):
            asserts.append(check_range(x, name, *support))
    return _checked(x, asserts)


def latent_input(z, name, dim):
    """`z` after its shape `(batch, dim)` and finiteness checks."""
    shape = check_shape(z, name, (dim,))
    with tf.control_dependencies([shape]):
        return _checked(z, [check_finite(z, name)])


def num_samples_input(num_samples, name="num_samples"):
    """`num_samples` after its scalar and positivity checks."""
    scalar = check_scalar(num_samples, name)
    with tf.control_dependencies([scalar]):
        fed = _fed(num_samples)
        positive = _assert(
            tf.reduce_all(fed > 0),
            f"Expected `{name}` to be a positive integer. Received: {name}=",
            fed,
        )
    # Read back through a reshape to the scalar shape, so the session loader
    # runs the asserts before any op that consumes the count.
    return tf.reshape(_checked(num_samples, [positive]), [])


def codes_input(indices, name, code_shape, num_embeddings):
    """Code maps after their shape and range `[0, num_embeddings)` checks."""
    shape = check_shape(indices, name, code_shape)
    with tf.control_dependencies([shape]):
        fed = _fed(indices)
        inside = tf.logical_and(fed >= 0, fed < num_embeddings)
        in_range = _assert(
            tf.reduce_all(inside),
            f"Expected `{name}` in [0, {num_embeddings}) (num_embeddings="
            f"{num_embeddings}). Received: min, max =",
            tf.reduce_min(fed),
            tf.reduce_max(fed),
        )
    return _checked(indices, [in_range])


def same_batch(a, b, name_a, name_b):
    """`(a, b)` after the check that they have as many rows."""
    rows_a, rows_b = tf.shape(a)[0], tf.shape(b)[0]
    same = _assert(
        tf.equal(rows_a, rows_b),
        f"Expected `{name_b}` with one row per example of `{name_a}`. Received: rows =",
        rows_a,
        rows_b,
    )
    return _checked(a, [same]), _checked(b, [same])
