"""FrechetDistance: a streaming Fréchet distance between two feature sets."""

import keras
from keras import ops

from keras_vae.utils.validation import check_positive_int


def _moments(count, total, outer):
    """Mean and unbiased covariance from n, sum f and sum f f^T."""
    # n < 2 would divide by 0 and feed NaN to `eigh` (which raises on
    # TensorFlow); `result` masks those states to NaN instead.
    count = ops.maximum(count, 2.0)
    mean = total / count
    cov = (outer - count * ops.outer(mean, mean)) / (count - 1.0)
    return mean, 0.5 * (cov + ops.transpose(cov))


@keras.saving.register_keras_serializable(package="keras_vae")
class FrechetDistance(keras.metrics.Metric):
    """Fréchet distance (FID-style) of two feature sets, accumulated batch by batch.

    ```none
    state per set:  n, s = sum_i f_i, S = sum_i f_i f_i^T        (aggregation "sum")
    mu  = s / n,    C = (S - n mu mu^T) / (n - 1)
    result = ||mu_a - mu_b||^2 + tr(C_a) + tr(C_b) - 2 sum_j sqrt(lambda_j),
             lambda_j = eigenvalues of C_a^(1/2) C_b C_a^(1/2)     (keras.ops.eigh)
    ```

    The same value as `keras_vae.diagnostics.frechet_distance` on the
    concatenated batches, with memory O(d^2) whatever the number of
    examples. The state is sums, so it adds up across replicas: every
    variable has `aggregation="sum"`, and under a distribution strategy
    the reduced state is that of all the examples the replicas saw.
    The statistics are kept in the metric's `dtype` (float32 by default):
    the covariance `S / n - mu mu^T` loses digits when the features' means
    are large against their spread; pass `dtype="float64"` (TensorFlow, or
    JAX with `jax_enable_x64`) for the last digits. The result is NaN until
    each set has 2 examples.

    Args:
        feature_dim: Positive integer d, the width of the features.
        name: Name of the metric. Defaults to `"frechet_distance"`.
        dtype: The dtype of the state and the result.

    Call arguments of `update_state(features_a=None, features_b=None)`:
        features_a: Features `(batch, d)` of the first set, or `None`.
        features_b: Features `(batch, d)` of the second set, or `None`
            (e.g. the data's features streamed once, the samples' later).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(600, 3)), rng.normal(size=(600, 3)) + 1.0
    >>> metric = keras_vae.metrics.FrechetDistance(feature_dim=3)
    >>> for i in range(0, 600, 200):
    ...     metric.update_state(a[i:i + 200], b[i:i + 200])
    >>> bool(np.isclose(float(metric.result()),
    ...                 keras_vae.diagnostics.frechet_distance(a, b), rtol=1e-4))
    True

    Reference:
        - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500)
    """

    def __init__(self, feature_dim, name="frechet_distance", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        d = self.feature_dim
        self.state = {}
        for key in ("a", "b"):
            self.state[key] = (
                self.add_variable(
                    (), "zeros", dtype=self.dtype, name=f"count_{key}", aggregation="sum"
                ),
                self.add_variable(
                    (d,), "zeros", dtype=self.dtype, name=f"sum_{key}", aggregation="sum"
                ),
                self.add_variable(
                    (d, d), "zeros", dtype=self.dtype, name=f"outer_sum_{key}", aggregation="sum"
                ),
            )

    def update_state(self, features_a=None, features_b=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Expected `sample_weight=None`: every example counts once. "
                f"Received: sample_weight of type {type(sample_weight).__name__}"
            )
        for key, features in (("a", features_a), ("b", features_b)):
            if features is None:
                continue
            if len(features.shape) != 2 or features.shape[-1] != self.feature_dim:
                raise ValueError(
                    f"Expected `features_{key}` of shape (batch, {self.feature_dim}). "
                    f"Received: shape {tuple(features.shape)}"
                )
            f = ops.cast(features, self.dtype)
            count, total, outer = self.state[key]
            count.assign_add(ops.cast(ops.shape(f)[0], self.dtype))
            total.assign_add(ops.sum(f, axis=0))
            outer.assign_add(ops.matmul(ops.transpose(f), f))

    def result(self):
        mean_a, cov_a = _moments(*self.state["a"])
        mean_b, cov_b = _moments(*self.state["b"])
        w, v = ops.eigh(cov_a)
        root_a = ops.matmul(v * ops.sqrt(ops.maximum(w, 0.0)), ops.transpose(v))
        inner = ops.matmul(ops.matmul(root_a, cov_b), root_a)
        eigenvalues, _ = ops.eigh(0.5 * (inner + ops.transpose(inner)))
        trace_sqrt = ops.sum(ops.sqrt(ops.maximum(eigenvalues, 0.0)))
        diff = mean_a - mean_b
        distance = ops.sum(diff * diff) + ops.trace(cov_a) + ops.trace(cov_b) - 2.0 * trace_sqrt
        enough = ops.logical_and(self.state["a"][0] >= 2.0, self.state["b"][0] >= 2.0)
        return ops.where(enough, ops.maximum(distance, 0.0), float("nan"))

    def get_config(self):
        return {"feature_dim": self.feature_dim, "name": self.name, "dtype": self.dtype}
