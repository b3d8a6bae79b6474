"""Validation of the feature matrices compared by the sample-quality diagnostics."""

import numpy as np
from keras import ops


def feature_matrix(features, name, min_rows=1):
    """`features` as a finite float64 numpy matrix `(num_examples, feature_dim)`.

    Args:
        features: An array or tensor of rank 2.
        name: The argument's name, for error messages.
        min_rows: The fewest examples accepted.

    Returns:
        A float64 numpy array of rank 2.

    Raises:
        ValueError: if `features` is not of rank 2, has fewer than
            `min_rows` rows or holds a non-finite value.
    """
    x = np.asarray(ops.convert_to_numpy(features), dtype="float64")
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(
            f"Expected `{name}` to be a matrix (num_examples, feature_dim) with at "
            f"least {min_rows} examples. Received: {name} of shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"Expected `{name}` to be finite. Received: a NaN or inf in {name}")
    return x


def feature_pair(features_a, features_b, names=("features_a", "features_b"), min_rows=1):
    """Both feature sets as float64 matrices of the same feature dimension."""
    a = feature_matrix(features_a, names[0], min_rows)
    b = feature_matrix(features_b, names[1], min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"Expected `{names[0]}` and `{names[1]}` to have the same feature "
            f"dimension. Received: {a.shape[1]} and {b.shape[1]}"
        )
    return a, b
