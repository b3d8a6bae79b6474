"""Argument and data checks that fail fast and say what they received."""

import math

import numpy as np


def check_positive_int(value, name):
    """Return `value` as an int, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_optional_positive_int(value, name):
    """Return `None` for `None`, else `check_positive_int(value, name)`."""
    return None if value is None else check_positive_int(value, name)


def check_method(obj, method, expected, name="model"):
    """Return `obj`'s method `method`, or raise a `TypeError` if it has none.

    The error reads "Expected `name` <expected>. Received: name of type T".
    """
    bound = getattr(obj, method, None)
    if not callable(bound):
        raise TypeError(
            f"Expected `{name}` {expected}. Received: {name} of type {type(obj).__name__}"
        )
    return bound


def check_shape(shape, name):
    """Return `shape` as a tuple of ints, or raise unless it is a non-empty
    sequence of positive integers."""
    valid = isinstance(shape, (list, tuple)) and len(shape) > 0
    valid = valid and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape
    )
    if not valid:
        raise ValueError(
            f"Expected `{name}` to be a non-empty tuple of positive integers. "
            f"Received: {name}={shape!r}"
        )
    return tuple(int(d) for d in shape)


def check_widths(widths, name):
    """Return layer widths as a tuple of positive ints; an int `u` means `(u,)`.

    Example:

    >>> check_widths(300, "hidden_units"), check_widths([300, 300], "hidden_units")
    ((300,), (300, 300))
    """
    if isinstance(widths, (int, np.integer)) and not isinstance(widths, bool):
        widths = (widths,)
    return check_shape(widths, name)


def _is_finite_number(value):
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )


def check_non_negative_float(value, name):
    """Return `value` as a float, or raise unless it is a finite number >= 0."""
    if not (_is_finite_number(value) and value >= 0):
        raise ValueError(
            f"Expected `{name}` to be a non-negative float. Received: {name}={value!r}"
        )
    return float(value)


def check_positive_float(value, name):
    """Return `value` as a float, or raise unless it is a finite number > 0."""
    if not (_is_finite_number(value) and value > 0):
        raise ValueError(f"Expected `{name}` to be a positive float. Received: {name}={value!r}")
    return float(value)


def check_free_bits(free_bits, objective):
    """Return `free_bits` as a float (or `None`), or raise.

    Free bits are nats per latent layer and clamp the per-layer KL terms of
    an ELBO, so they need a non-negative float and `objective == "elbo"`.
    """
    if free_bits is None:
        return None
    if not (_is_finite_number(free_bits) and free_bits >= 0):
        raise ValueError(
            "Expected `free_bits` to be None or a non-negative float (nats per "
            f"latent layer). Received: free_bits={free_bits!r}"
        )
    if objective != "elbo":
        raise ValueError(
            "Expected `objective='elbo'` with `free_bits`: free bits clamp the "
            "per-layer KL terms of the ELBO, which the IWAE bound does not have. "
            f"Received: objective={objective!r}, free_bits={free_bits!r}"
        )
    return float(free_bits)


def check_one_of(value, name, allowed):
    """Raise unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(
            f"Expected `{name}` to be one of {sorted(allowed)}. Received: {name}={value!r}"
        )
    return value


def check_finite(x, name="x"):
    """Raise if a concrete array holds NaN or infinite values."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(
            f"Expected `{name}` to hold only finite values. Received: {name} "
            f"with {bad} non-finite value(s) out of {x.size}."
        )
    return x


def check_unit_interval(x, name="x"):
    """Raise if a concrete array has values outside [0, 1]."""
    x = np.asarray(x)
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"Expected `{name}` to lie in [0, 1] (a Bernoulli likelihood models "
            f"pixel intensities or binary pixels). Received: {name} with "
            f"min={lo:g}, max={hi:g}. Rescale the data, e.g. x / 255."
        )
    return x


def describe_structure(value):
    """A short text naming a nest's container and its leaves' shapes, for errors.

    Example:

    >>> describe_structure((np.zeros((2, 3)), np.zeros(2)))
    'a tuple of 2 input(s) of shapes [(2, 3), (2,)]'
    """
    if isinstance(value, dict):
        shapes = {k: _shape_of(v) for k, v in value.items()}
        return f"a dict of {len(value)} input(s) of shapes {shapes}"
    if isinstance(value, (list, tuple)):
        shapes = [_shape_of(v) for v in value]
        return f"a {type(value).__name__} of {len(value)} input(s) of shapes {shapes}"
    return f"a value of shape {_shape_of(value)}"


def _shape_of(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        return type(value).__name__
    return tuple(shape) if getattr(shape, "rank", 0) is not None else "<unknown>"


def check_one_input(x, name="x"):
    """Raise unless `x` is one input: not a dict, nor a list or tuple of arrays.

    keras_vae models model one data array p(x); Keras would read a list,
    tuple or dict as the inputs of a multi-input model. A nested list of
    Python numbers is one array-like and passes.
    """
    if isinstance(x, dict) or (isinstance(x, (list, tuple)) and _holds_arrays(x)):
        raise ValueError(
            f"Expected `{name}` to be one array (or a tensor, `tf.data.Dataset`, "
            "generator or `keras.utils.PyDataset` of such batches): keras_vae "
            f"models take one input. Received: {name} as {describe_structure(x)}. "
            "Pass the data array itself; to model several arrays jointly, "
            "concatenate them along a feature axis."
        )
    return x


def _holds_arrays(value):
    """Whether a nest holds an array or tensor of rank >= 1 (not only numbers)."""
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_arrays(v) for v in value)
    shape = getattr(value, "shape", None)
    return shape is not None and getattr(shape, "rank", len(shape)) != 0


def check_feature_axes(shape, name="x"):
    """Raise unless a batch shape `(batch, ...)` has at least one feature axis.

    One example of a keras_vae model is an array (a vector, an image), so a
    batch has rank >= 2; a 1-D batch `(N,)` would train a model of scalars
    with an empty data shape.
    """
    if getattr(shape, "rank", 0) is None:
        return shape  # unknown rank: checked where the shape is known
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"Expected `{name}` of shape (batch, ...) with at least one feature "
            "axis: one example of a keras_vae model is an array, not a scalar. "
            f"Received: {name}.shape={shape}. Reshape 1-D data of N scalars to "
            f"(N, 1), e.g. `{name}.reshape(-1, 1)`; give one example a batch "
            f"axis, `{name}[None]`."
        )
    return shape


def check_no_labels(y, name="y"):
    """Raise if targets `y` are given to an unconditional model.

    An unconditional model models p(x) and trains on `x` alone, so a `y`
    would be silently ignored. `None` passes. (A conditional
    `keras_vae.models.VAE(num_classes=...)` takes its condition as `y`.)
    """
    if y is None:
        return
    received = (
        f"{name} of shape {_shape_of(y)}"
        if hasattr(y, "shape")
        else f"{name} as {describe_structure(y)}"
    )
    raise ValueError(
        "keras_vae models are unconditional: they model p(x) and train on `x` "
        f"alone, so targets would be ignored. Expected no `{name}`. Received: "
        f"{received}. Pass `x` only: `fit(x)`, `validation_data=x_val`, or a "
        "dataset or generator yielding `x` or `(x,)`. For a model of p(x | c), "
        "build `keras_vae.models.VAE(num_classes=...)` and pass the condition "
        "as `y`."
    )


def check_condition_given(c, num_classes, name="condition"):
    """Raise if a conditional model of `num_classes` gets no condition `c`."""
    if c is not None:
        return
    raise ValueError(
        f"Expected `{name}` for a conditional model (num_classes={num_classes}): "
        f"class ids of shape (batch,) in [0, {num_classes}) or float vectors of "
        f"shape (batch, {num_classes}). Received: {name}=None. Pass it as "
        "`fit(x, c)`, `validation_data=(x_val, c_val)`, a dataset or generator "
        "yielding `(x, c)`, or `condition=c` in `encode`, `decode`, `sample`, "
        "`reconstruct`, `embed` and `log_likelihood`."
    )


def check_condition(c, num_classes, batch_size=None, name="condition"):
    """Return a concrete condition as float32 vectors `(batch, num_classes)`.

    ```none
    integer ids y, shape (batch,) or (batch, 1), 0 <= y < num_classes -> one_hot(y)
    floats c, shape (batch, num_classes), finite                      -> c
    ```

    Args:
        c: Class ids (an integer array) or condition vectors (a float array).
        num_classes: The model's condition width.
        batch_size: Optional number of rows `c` must have (that of `x`).
        name: The argument's name in errors.

    Example:

    >>> check_condition(np.array([0, 2]), 3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    check_condition_given(c, num_classes, name)
    check_one_input(c, name)
    c = np.asarray(c)
    if np.issubdtype(c.dtype, np.integer):
        ids = c.reshape(c.shape[:1]) if c.ndim == 2 and c.shape[1] == 1 else c
        if ids.ndim != 1:
            raise ValueError(
                f"Expected `{name}` class ids of shape (batch,) or (batch, 1). "
                f"Received: {name}.shape={c.shape}, dtype={c.dtype}. Condition "
                f"vectors are floats of shape (batch, {num_classes})."
            )
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"Expected `{name}` class ids in [0, {num_classes}) "
                f"(num_classes={num_classes}). Received: {name} with "
                f"min={int(ids.min())}, max={int(ids.max())}"
            )
        c = np.eye(num_classes, dtype="float32")[ids]
    elif np.issubdtype(c.dtype, np.floating):
        if c.ndim != 2 or c.shape[1] != num_classes:
            raise ValueError(
                f"Expected `{name}` of shape (batch, {num_classes}) (float condition "
                f"vectors) or integer class ids of shape (batch,). Received: "
                f"{name}.shape={c.shape}, dtype={c.dtype}"
            )
        check_finite(c, name)
        c = c.astype("float32", copy=False)
    else:
        raise ValueError(
            f"Expected `{name}` of an integer dtype (class ids) or a floating "
            f"dtype (condition vectors). Received: {name}.dtype={c.dtype}"
        )
    if batch_size is not None and c.shape[0] != batch_size:
        raise ValueError(
            f"Expected `{name}` with one row per example of `x` ({batch_size}). "
            f"Received: {name} with {c.shape[0]} rows"
        )
    return c


def check_batch(x, name="x"):
    """Return a concrete batch as a float32 numpy array, or raise unless it
    is one numeric (floating, integer or bool) array of shape (batch, ...)
    with at least one example and one feature axis."""
    check_one_input(x, name)
    x = np.asarray(x)
    if not (
        np.issubdtype(x.dtype, np.floating)
        or np.issubdtype(x.dtype, np.integer)
        or np.issubdtype(x.dtype, np.bool_)
    ):
        raise ValueError(
            f"Expected `{name}` of a floating dtype (or one convertible to it: "
            f"integer or bool). Received: {name}.dtype={x.dtype}"
        )
    if x.ndim < 1 or x.shape[0] == 0 or x.size == 0:
        raise ValueError(
            f"Expected `{name}` to hold at least one example, as an array of "
            f"shape (batch, ...) with batch >= 1. Received: {name}.shape={x.shape}"
        )
    check_feature_axes(x.shape, name)
    return x.astype("float32", copy=False)


def check_no_sample_weight(sample_weight, class_weight=None):
    """Raise if `sample_weight` or `class_weight` is given: the objectives of
    keras_vae models are unweighted means over the batch."""
    for name, value in (("sample_weight", sample_weight), ("class_weight", class_weight)):
        if value is not None:
            shape = getattr(value, "shape", None)
            received = (
                f"{name} of shape {tuple(shape)}" if shape is not None else f"{name}={value!r}"
            )
            raise ValueError(
                f"Expected no `{name}`: keras_vae models train on an unweighted "
                "mean of their objective over the batch, with or without `y`. "
                f"Received: {received}"
            )
