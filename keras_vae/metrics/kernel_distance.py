"""KernelDistance: a streaming unbiased kernel distance (KID) of two feature sets."""

import keras
from keras import ops

from keras_vae.utils.validation import check_positive_int


def _unbiased_mmd2(count_a, tensor_a, diagonal_a, count_b, tensor_b, diagonal_b):
    """Unbiased MMD^2 from the statistics, over the leading axis (see the class)."""
    # n < 2 divides by 0; `result` masks those states to NaN instead.
    count_a, count_b = ops.maximum(count_a, 2.0), ops.maximum(count_b, 2.0)
    axes = (1, 2, 3)
    mean_a = tensor_a / count_a[:, None, None, None]
    mean_b = tensor_b / count_b[:, None, None, None]
    # ||M_a - M_b||^2 first: the difference of two near-equal kernel means
    # loses fewer digits than the difference of their contracted sums.
    diff = mean_a - mean_b
    within_a = (ops.sum(mean_a * mean_a, axis=axes) - diagonal_a / count_a) / (count_a - 1.0)
    within_b = (ops.sum(mean_b * mean_b, axis=axes) - diagonal_b / count_b) / (count_b - 1.0)
    return ops.sum(diff * diff, axis=axes) + within_a + within_b


@keras.saving.register_keras_serializable(package="keras_vae")
class KernelDistance(keras.metrics.Metric):
    """Kernel distance (KID, unbiased MMD^2) of two feature sets, batch by batch.

    The kernel of `keras_vae.diagnostics.kernel_distance`,
    k(x, y) = (x . y / d + 1)^3, is the cube of a dot product of augmented
    vectors, so every sum of kernel values is a contraction of third-moment
    tensors, which add up over batches and replicas:

    ```none
    x~ = (x / sqrt(d), 1)                  k(x, y) = (x~ . y~)^3
    state per set:  n,  T = sum_i x~_i (x) x~_i (x) x~_i   (d+1)^3,
                    D = sum_i k(x_i, x_i)                  (aggregation "sum")
    sum_{i,j} k(a_i, b_j) = <T_a, T_b>,   M = T / n
    MMD^2_u = 1/(n_a(n_a-1)) sum_{i!=j} k(a_i, a_j) + 1/(n_b(n_b-1)) sum_{i!=j} k(b_i, b_j)
              - 2/(n_a n_b) sum_{i,j} k(a_i, b_j)
            = ||M_a - M_b||^2 + (||M_a||^2 - D_a/n_a)/(n_a - 1) + (||M_b||^2 - D_b/n_b)/(n_b - 1)
    ```

    `result()` is the unbiased estimate over all the examples seen (all the
    pairs, sets of any sizes n_a, n_b >= 2): the limit of the function's
    mean over many random subsets, which averages the same pairs. The
    spread: the examples of each set go round-robin (running index mod
    `num_subsets`) to `num_subsets` disjoint subsets, each with its own
    statistics; `"<name>_std"` is the standard deviation (`ddof=0`) of the
    per-subset estimates. Unlike the function's (random, overlapping
    subsets of a fixed `subset_size`), these subsets are disjoint and hold
    about n / num_subsets examples each, so the spread shrinks as the sets
    grow (10 subsets of 10,000 examples: 1,000 each, the function's default
    subset size). Under a distribution strategy each replica assigns its
    own examples round-robin; the total estimate does not depend on it.

    Memory: `2 * num_subsets * ((d + 1)^3 + 2)` numbers of the state
    (d = 64, 10 subsets: 5.5 million, 22 MB in float32), and an update of b
    examples costs about `2 b num_subsets (d + 1)^3` flops. That bounds d
    to about 128 (172 MB at 10 subsets; `result()` briefly needs a few
    times the state); for wide features (Inception's
    2048) use `keras_vae.diagnostics.kernel_distance` on stored features.

    Precision: the state is kept in the metric's `dtype` (float32 by
    default). Writing the estimate as ||M_a - M_b||^2 plus small corrections
    avoids subtracting the large pair sums: on 2,000 + 2,000 examples of 64
    features (Gaussian clouds, the MNIST feature network's features),
    float32 states on both backends matched a float64 numpy oracle to 4e-6
    of the estimate (2e-9 of the mean kernel value). `dtype="float64"`
    (TensorFlow, or JAX with `jax_enable_x64`) gives the last digits (float32
    counts are exact up to 2^24 examples per subset). The
    result is NaN until each set has 2 examples, the spread until each
    subset does.

    Args:
        feature_dim: Positive integer d, the width of the features.
        num_subsets: Positive integer, the subsets of the spread. Defaults
            to 10.
        name: Name of the metric. Defaults to `"kernel_distance"`.
        dtype: The dtype of the state and the result.

    Call arguments of `update_state(features_a=None, features_b=None)`:
        features_a: Features `(batch, d)` of the first set, or `None`.
        features_b: Features `(batch, d)` of the second set, or `None`.

    `result()` returns a dict `{name: KID, name + "_std": spread}` (Keras
    logs both).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3)) + 1.0
    >>> metric = keras_vae.metrics.KernelDistance(feature_dim=3, num_subsets=4)
    >>> for i in range(0, 400, 100):
    ...     metric.update_state(a[i:i + 100], b[i:i + 100])
    >>> result = metric.result()
    >>> float(result["kernel_distance"]) > 5 * float(result["kernel_distance_std"]) > 0
    True

    Reference:
        - [Bińkowski et al., 2018](https://arxiv.org/abs/1801.01401)
        - [Gretton et al., 2012](https://jmlr.org/papers/v13/gretton12a.html)
    """

    def __init__(self, feature_dim, num_subsets=10, name="kernel_distance", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        self.num_subsets = check_positive_int(num_subsets, "num_subsets")
        m, e = self.num_subsets, self.feature_dim + 1
        self.state = {}
        for key in ("a", "b"):
            self.state[key] = (
                self.add_variable(
                    (m,), "zeros", dtype=self.dtype, name=f"count_{key}", aggregation="sum"
                ),
                self.add_variable(
                    (m, e, e, e),
                    "zeros",
                    dtype=self.dtype,
                    name=f"moments_{key}",
                    aggregation="sum",
                ),
                self.add_variable(
                    (m,), "zeros", dtype=self.dtype, name=f"diagonal_{key}", aggregation="sum"
                ),
            )

    def update_state(self, features_a=None, features_b=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Expected `sample_weight=None`: every example counts once. "
                f"Received: sample_weight of type {type(sample_weight).__name__}"
            )
        m, d = self.num_subsets, self.feature_dim
        for key, features in (("a", features_a), ("b", features_b)):
            if features is None:
                continue
            if len(features.shape) != 2 or features.shape[-1] != d:
                raise ValueError(
                    f"Expected `features_{key}` of shape (batch, {d}). "
                    f"Received: shape {tuple(features.shape)}"
                )
            count, tensor, diagonal = self.state[key]
            f = ops.cast(features, self.dtype) / (float(d) ** 0.5)
            x = ops.concatenate([f, ops.ones_like(f[:, :1])], axis=1)
            batch = ops.shape(x)[0]
            # Round robin from the running index: subset of example i = i mod m.
            start = ops.cast(ops.sum(count), "int32")
            subset = ops.mod(start + ops.arange(batch, dtype="int32"), m)
            onehot = ops.one_hot(subset, m, dtype=self.dtype)  # (batch, m)
            e = d + 1
            # sum_i onehot_ij x_ip x_iq x_ir as one matmul:
            # (m e, batch) @ (batch, e^2).
            left = ops.reshape(onehot[:, :, None] * x[:, None, :], (batch, m * e))
            right = ops.reshape(x[:, :, None] * x[:, None, :], (batch, e * e))
            tensor.assign_add(ops.reshape(ops.matmul(ops.transpose(left), right), (m, e, e, e)))
            count.assign_add(ops.sum(onehot, axis=0))
            self_kernel = ops.sum(x * x, axis=1) ** 3
            diagonal.assign_add(ops.matmul(self_kernel[None, :], onehot)[0])

    def result(self):
        count_a, tensor_a, diagonal_a = self.state["a"]
        count_b, tensor_b, diagonal_b = self.state["b"]

        def with_total(v):  # row 0: all the examples, rows 1..m: the subsets
            return ops.concatenate([ops.sum(v, axis=0, keepdims=True), v], axis=0)

        estimates = _unbiased_mmd2(
            with_total(count_a),
            with_total(tensor_a),
            with_total(diagonal_a),
            with_total(count_b),
            with_total(tensor_b),
            with_total(diagonal_b),
        )
        subsets = estimates[1:]
        spread = ops.sqrt(ops.mean(ops.square(subsets - ops.mean(subsets))))
        nan = float("nan")
        enough = ops.logical_and(ops.sum(count_a) >= 2.0, ops.sum(count_b) >= 2.0)
        each = ops.logical_and(ops.min(count_a) >= 2.0, ops.min(count_b) >= 2.0)
        return {
            self.name: ops.where(enough, estimates[0], nan),
            f"{self.name}_std": ops.where(each, spread, nan),
        }

    def get_config(self):
        return {
            "feature_dim": self.feature_dim,
            "num_subsets": self.num_subsets,
            "name": self.name,
            "dtype": self.dtype,
        }
