"""PrecisionRecall: streaming improved precision and recall (k-NN manifolds)."""

import keras
import numpy as np
from keras import ops

from keras_vae.utils.validation import check_positive_int


def _replica_context():
    """(replica id, replicas in sync) of the current `tf.distribute` context.

    `(0, 1)` off TensorFlow: JAX's `keras.distribution` runs one
    program on the global batch, so the metric sees every example.
    """
    if keras.backend.backend() != "tensorflow":
        return 0, 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if context is None:  # cross-replica context
        return 0, num_replicas
    return context.replica_id_in_sync_group, num_replicas


def _concrete(x):
    """`x` as a numpy value when eager, `None` when traced (tf.function, jax.jit)."""
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except (TypeError, AttributeError, NotImplementedError, ValueError):
        return None


@keras.saving.register_keras_serializable(package="keras_vae")
class PrecisionRecall(keras.metrics.Metric):
    """Improved precision and recall (Kynkäänniemi et al. 2019), batch by batch.

    The same value as `keras_vae.diagnostics.precision_recall` on the
    concatenated batches (which computes in float64; at the default float32
    a point within rounding of a radius may fall on the other side):

    ```none
    r_k(f, S)   = distance from f to its k-th nearest neighbour in S \\ {f}
    manifold(S) = union over f in S of the ball B(f, r_k(f, S))
    precision   = (1/|G|) sum_{g in G} 1[g in manifold(R)]     (samples that look real)
    recall      = (1/|R|) sum_{r in R} 1[r in manifold(G)]     (data the samples cover)
    ```

    The k-NN radii depend on the whole set, so no sum over batches gives
    them: the metric keeps the features, each set in a buffer of
    `capacity` rows (a metric variable), and `result()` computes the radii
    and the coverage from the buffers, in blocks of `block_size` rows
    (memory O(block_size * capacity)). More than `capacity` examples of a
    set is an error, never a truncation: an eager `update_state` raises at
    once; inside a compiled step the extra rows are not stored, the result
    is NaN and an eager `result()` (Keras calls one at the end of
    `evaluate` and of each epoch) raises.

    Cost: `result()` takes O(capacity^2 d) and Keras calls it after every
    step of `fit` / `evaluate` when the metric is compiled in; prefer a
    loop of `update_state` and one `result()` (or a callback) for large
    capacities.

    Replicas (`tf.distribute`): the buffers are `aggregation="sum"`
    variables with one slab of `capacity` rows per replica (the strategy's
    replicas when the metric is built, in its scope); each replica writes
    its examples into its own slab and leaves the others at zero, so the
    cross-replica sum is every replica's rows, side by side, with the
    per-slab counts giving the valid rows. The result over all replicas is
    exact; read inside a replica (Keras's per-step logs) it is that
    replica's. Memory: `2 * replicas * capacity * d` numbers.

    Args:
        feature_dim: Positive integer d, the width of the features.
        capacity: Positive integer, the most examples of each set (per
            replica under a `tf.distribute` strategy).
        k: Positive integer, the neighbour rank of the radii. Defaults to 3.
        block_size: Positive integer, rows per block of distances in
            `result()`. Defaults to 1000.
        name: Name of the metric; `result()` returns
            `{name + "_precision": ..., name + "_recall": ...}`.
            Defaults to `"sample"`.
        dtype: The dtype of the buffers and the distances.

    Call arguments of `update_state(real_features=None, generated_features=None)`:
        real_features: Features `(batch, d)` of data, or `None`.
        generated_features: Features `(batch, d)` of samples, or `None`.
            In `compile(metrics=...)`, Keras passes `(y, y_pred)`.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(400, 2))
    >>> collapsed = 0.1 * rng.normal(size=(400, 2))  # a mode-collapsed model
    >>> metric = keras_vae.metrics.PrecisionRecall(feature_dim=2, capacity=400)
    >>> for i in range(0, 400, 100):
    ...     metric.update_state(real[i:i + 100], collapsed[i:i + 100])
    >>> result = metric.result()
    >>> float(result["sample_precision"]) > 0.9, float(result["sample_recall"]) < 0.3
    (True, True)

    Reference:
        - [Kynkäänniemi et al., 2019](https://arxiv.org/abs/1904.06991)
    """

    def __init__(self, feature_dim, capacity, k=3, block_size=1000, name="sample", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        self.capacity = check_positive_int(capacity, "capacity")
        self.k = check_positive_int(k, "k")
        self.block_size = check_positive_int(block_size, "block_size")
        if self.capacity <= self.k:
            raise ValueError(
                f"Expected `capacity` > k = {self.k}: a radius needs k other examples. "
                f"Received: capacity={self.capacity}"
            )
        _, self.num_slabs = _replica_context()
        rows = self.num_slabs * self.capacity
        self.state = {}
        for key in ("real", "generated"):
            self.state[key] = (
                # Examples seen by each replica, including any past capacity.
                self.add_variable(
                    (self.num_slabs,),
                    "zeros",
                    dtype="int32",
                    name=f"count_{key}",
                    aggregation="sum",
                ),
                self.add_variable(
                    (rows, self.feature_dim),
                    "zeros",
                    dtype=self.dtype,
                    name=f"features_{key}",
                    aggregation="sum",
                ),
            )

    def update_state(self, real_features=None, generated_features=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Expected `sample_weight=None`: every example counts once. "
                f"Received: sample_weight of type {type(sample_weight).__name__}"
            )
        # Outside a replica context (Keras's symbolic build traces one),
        # slab 0: TensorFlow's own rules for sum-aggregated variables apply.
        replica, num_replicas = _replica_context()
        if num_replicas != self.num_slabs:
            raise ValueError(
                f"Expected {self.num_slabs} replica(s), those of the strategy in whose "
                f"scope the metric was built. Received: {num_replicas} replica(s)"
            )
        for key, features in (("real", real_features), ("generated", generated_features)):
            if features is None:
                continue
            if len(features.shape) != 2 or features.shape[-1] != self.feature_dim:
                raise ValueError(
                    f"Expected `{key}_features` of shape (batch, {self.feature_dim}). "
                    f"Received: shape {tuple(features.shape)}"
                )
            count, buffer = self.state[key]
            f = ops.cast(features, self.dtype)
            batch = ops.shape(f)[0]
            slab = ops.cast(ops.one_hot(replica, self.num_slabs), "int32")
            seen = ops.sum(count * slab)
            fits = seen + batch <= self.capacity
            concrete = _concrete(fits)
            if concrete is not None and not concrete:
                raise ValueError(
                    f"Expected at most `capacity` = {self.capacity} {key} examples. "
                    f"Received: {int(_concrete(seen)) + int(batch)}; build the metric "
                    "with a larger `capacity`"
                )
            start = replica * self.capacity + ops.minimum(seen, self.capacity - batch)
            # dynamic_update_slice clamps its start, so a batch past the slab
            # would overwrite stored rows: keep the buffer, count the rows.
            stored = ops.convert_to_tensor(buffer)
            written = ops.slice_update(stored, (start, 0), f)
            buffer.assign(ops.where(fits, written, stored))
            count.assign_add(slab * batch)

    def _valid(self, count):
        """Mask of the stored rows, `(num_slabs * capacity,)`."""
        stored = ops.minimum(count, self.capacity)
        within = ops.arange(self.capacity, dtype="int32")[None, :] < stored[:, None]
        return ops.reshape(within, (-1,))

    def _squared_distances(self, x, y):
        d = ops.sum(x * x, axis=1)[:, None] + ops.sum(y * y, axis=1)[None, :]
        return ops.maximum(d - 2.0 * ops.matmul(x, ops.transpose(y)), 0.0)

    def _radii(self, x, valid):
        """Squared distance of each row to its k-th nearest other valid row."""
        radii = []
        for start in range(0, x.shape[0], self.block_size):
            d = self._squared_distances(x[start : start + self.block_size], x)
            d = ops.where(valid[None, :], d, float("inf"))
            # k + 1 smallest: each row's nearest row is itself, at distance 0.
            nearest, _ = ops.top_k(-d, self.k + 1)
            radii.append(-nearest[:, self.k])
        return ops.concatenate(radii, axis=0)

    def _coverage(self, points, point_valid, centers, center_valid, radii):
        """Share of the valid `points` within the radius of a valid center."""
        inside = 0
        for start in range(0, points.shape[0], self.block_size):
            block = slice(start, start + self.block_size)
            d = self._squared_distances(points[block], centers)
            hit = ops.logical_and(d <= radii[None, :], center_valid[None, :])
            hit = ops.logical_and(ops.any(hit, axis=1), point_valid[block])
            inside = inside + ops.sum(ops.cast(hit, "int32"))
        return ops.cast(inside, self.dtype) / ops.cast(
            ops.maximum(ops.sum(ops.cast(point_valid, "int32")), 1), self.dtype
        )

    def result(self):
        count_real, real = self.state["real"]
        count_gen, gen = self.state["generated"]
        total_real, total_gen = ops.sum(count_real), ops.sum(count_gen)
        # Each replica's slab holds `capacity` rows: a per-slab bound.
        overflow = ops.logical_or(
            ops.any(count_real > self.capacity), ops.any(count_gen > self.capacity)
        )
        concrete = _concrete(overflow)
        if concrete is not None and concrete:
            raise ValueError(
                f"Expected at most `capacity` = {self.capacity} examples of each set "
                f"(per replica). Received: {int(_concrete(total_real))} real and "
                f"{int(_concrete(total_gen))} generated; rows past the capacity were "
                "not stored. Build the metric with a larger `capacity`"
            )
        valid_real, valid_gen = self._valid(count_real), self._valid(count_gen)
        precision = self._coverage(gen, valid_gen, real, valid_real, self._radii(real, valid_real))
        recall = self._coverage(real, valid_real, gen, valid_gen, self._radii(gen, valid_gen))
        ok = ops.logical_and(
            ops.logical_not(overflow),
            ops.logical_and(total_real > self.k, total_gen > self.k),
        )
        nan = float("nan")
        return {
            f"{self.name}_precision": ops.where(ok, precision, nan),
            f"{self.name}_recall": ops.where(ok, recall, nan),
        }

    def get_config(self):
        return {
            "feature_dim": self.feature_dim,
            "capacity": self.capacity,
            "k": self.k,
            "block_size": self.block_size,
            "name": self.name,
            "dtype": self.dtype,
        }
