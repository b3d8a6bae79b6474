"""GuardedSteps: the TensorFlow train/test/predict steps of keras_vae models.

Everything that needs `tf.GradientTape` or `tf.distribute` lives here, so a
later JAX backend is a contained change.
"""

import inspect
import math

import keras
import tensorflow as tf
from keras import ops

from keras_vae.models.true_batch_callback_list import TrueBatchCallbackList
from keras_vae.models.true_batch_callback_list import num_batches
from keras_vae.utils import tf_internal
from keras_vae.utils.backend import check_model_backend

MODES = ("train", "test", "predict")

# Reasons a step is bad, as bits of `StepGuard.reason`.
NON_FINITE_DATA = 1
DATA_BELOW_SUPPORT = 2
DATA_ABOVE_SUPPORT = 4
NON_FINITE_LOSS = 8
NON_FINITE_GRADIENT = 16


def chunked_log_mean_exp(log_weights, num_importance_samples, chunk_size, batch):
    """log (1/S) sum_s exp(log_weights_s) over S samples drawn in chunks.

    ```none
    log (1/S) sum_{s=1..S} w_s,   S = num_importance_samples,  in ceil(S / chunk_size) steps
    ```

    A `tf.while_loop`: each step computes a full chunk of `(chunk_size, batch)`
    log weights (a static shape), masks the samples past S to -inf and
    folds the chunk into a running log-sum-exp, so the memory is that of
    one chunk whatever S is. A chunk is two calls, `log_weights(chunk_size -
    chunk_size // 2)` and `log_weights(chunk_size // 2)`: two independent chains of
    ops, which XLA:CPU's thunk executor runs side by side, one half's
    element-wise fusions beside the other half's matmuls, where one chain
    left a core waiting (up to 15 % more samples/s on two cores in paired
    probes, `benchmarks/RESULTS.md` §11.3). `num_importance_samples` may be a tensor
    (a serving input). The one estimator of
    `LatentVariableModel.log_likelihood` and of the exported
    `log_likelihood` signature.

    Args:
        log_weights: Callable `k -> (k, batch)` log importance weights of
            k fresh samples.
        num_importance_samples: Positive integer S (int or int32 tensor).
        chunk_size: Positive Python integer, samples per step.
        batch: The batch size (int or scalar tensor).

    Returns:
        A float32 tensor `(batch,)`.
    """
    num = tf.cast(num_importance_samples, tf.int32)
    num_chunks = (num + chunk_size - 1) // chunk_size
    offsets = tf.range(chunk_size, dtype=tf.int32)[:, None]  # (chunk_size, 1)

    halves = [k for k in (chunk_size - chunk_size // 2, chunk_size // 2) if k > 0]

    def body(i, total):
        log_w = tf.concat([tf.cast(log_weights(k), tf.float32) for k in halves], axis=0)
        keep = i * chunk_size + offsets < num
        log_w = tf.where(keep, log_w, tf.constant(-math.inf, tf.float32))
        part = tf.reduce_logsumexp(log_w, axis=0)
        return i + 1, tf.reduce_logsumexp(tf.stack([total, part]), axis=0)

    _, total = tf.while_loop(
        lambda i, total: i < num_chunks,
        body,
        (tf.constant(0, tf.int32), tf.fill([batch], -math.inf)),
    )
    return total - tf.math.log(tf.cast(num, tf.float32))


def _all_finite(values):
    flags = [ops.all(ops.isfinite(v)) for v in values if v is not None]
    return ops.all(ops.stack(flags))


def apply_if(optimizer, apply, grads, variables):
    """`optimizer.apply(grads, variables)` if the boolean tensor `apply` holds.

    The optimizer update calls `merge_call`, which may not sit in a cond
    inside a replica context, so under a strategy without merge-call support
    the branch is taken in the cross-replica context.
    """
    if tf_internal.strategy_supports_no_merge_call():

        def apply_fn():
            optimizer.apply(grads, variables)

        tf.cond(apply, apply_fn, lambda: None)
        return

    def cross_replica(distribution, grads, apply):
        apply = distribution.experimental_local_results(apply)[0]

        def apply_fn():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))

        tf.cond(apply, apply_fn, lambda: None)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, apply))


class StepGuard:
    """Step counter and first bad step of one mode (train, test or predict).

    Plain `tf.Variable`s kept outside the model's tracked state: they are
    not weights, are not saved, and are reset by `fit`/`evaluate`/`predict`.
    They are created under the model's strategy, assigned identically by
    every replica (the flags are all-reduced first).

    - `step`: steps run since the last reset (the batch index in the epoch);
    - `bad_step`: `step` of the first bad step, -1 while there is none;
    - `reason`: bits of what made it bad (`NON_FINITE_*`, `DATA_*`);
    - `data_range`: min and max of `x` on that step.
    """

    def __init__(self, mode):
        kwargs = dict(
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self.step = tf.Variable(tf.constant(0, "int64"), name=f"{mode}_guard_step", **kwargs)
        self.bad_step = tf.Variable(
            tf.constant(-1, "int64"), name=f"{mode}_guard_bad_step", **kwargs
        )
        self.reason = tf.Variable(tf.constant(0, "int64"), name=f"{mode}_guard_reason", **kwargs)
        self.data_range = tf.Variable(
            tf.zeros((2,), "float32"), name=f"{mode}_guard_data_range", **kwargs
        )

    def reset(self, step=True):
        if step:
            self.step.assign(0)
        self.bad_step.assign(-1)
        self.reason.assign(0)

    def report(self):
        """`None`, or `(step, reason, (min, max))` of the first bad step."""
        bad_step = int(self.bad_step.numpy())
        if bad_step < 0:
            return None
        lo, hi = (float(v) for v in self.data_range.numpy())
        return bad_step, int(self.reason.numpy()), (lo, hi)


# `tf.data` transformations that keep one element per input element.
_ELEMENTWISE = (
    "map",
    "prefetch",
    "shuffle",
    "cache",
    "repeat",
    "take",
    "skip",
    "filter",
    "options",
    "shard",
    "ignoreerrors",
    "assertcardinality",
    "zip",
    "concatenate",
    "maxintraopparallelism",
    "privatethreadpool",
)


def dataset_looks_unbatched(dataset):
    """Whether a `tf.data.Dataset` yields single examples, not batches.

    The public element spec answers first: an unknown leading dimension is
    a batch axis (`batch()` without `drop_remainder`). Otherwise the
    pipeline is read: `True` when it reads rows (`from_tensor_slices`,
    `unbatch`) and only element-wise transformations follow; `False` when
    it batches, or when its source (e.g. a generator) does not say.
    """
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    shape = getattr(spec, "shape", None)
    if shape is not None and shape.rank and shape[0] is None:
        return False
    return _reads_rows(dataset)


def _reads_rows(dataset):
    name = type(dataset).__name__.lower().replace("_", "")
    if "unbatch" in name or "tensorslice" in name:
        return True
    if "batch" in name or "flatmap" in name or not any(k in name for k in _ELEMENTWISE):
        return False
    inputs = tf_internal.dataset_inputs(dataset)
    return bool(inputs) and all(_reads_rows(d) for d in inputs)


class _Untracked:
    """Per-model state Keras must not track (not a layer, variable, list or
    dict): the step guards and the compiled helper functions. Kept out of
    the model's weights, so it is neither saved nor exported."""

    def __init__(self):
        self.guards = {}
        self.functions = {}


class GuardedSteps:
    """Mixin with the `train_step`/`test_step`/`predict_step` of keras_vae models.

    The model it is mixed into (a `keras.Model`; in keras_vae, an
    `Autoencoder`) provides these public hooks, and only these:

    - `unpack(data)`: the batch `x` of a step's data;
    - `preprocess(x, training)`: the batch the objective sees (dynamic
      binarization in training);
    - `compute_terms(x, training)`: dict with the scalar `"loss"` and the
      batch means of the metrics;
    - `compute_loss(x=x, y_pred=terms, training=...)`: the scalar loss to
      minimize (Keras's extension point: a subclass may add terms);
    - `compute_metrics(x, y, y_pred, sample_weight)`: updates the metric
      trackers from `y_pred` (the terms, with `"loss"` the value of
      `compute_loss`) and returns their results;
    - `reconstruct_tensors(x)`: what `predict` returns for a batch;
    - `data_support()`: `(low, high)` of valid data values, or `None`;
    - `data_shape`: the shape of one example once built (or `None`).

    The step divides the loss by the number of replicas (Keras sums
    gradients over replicas) and skips the optimizer update when the batch
    breaks the data's rules (not finite, outside `data_support()`), the
    loss is not finite, or a gradient is not finite (under
    `LossScaleOptimizer`, only once the loss scale is down to 1: before
    that a float16 overflow is not an error, and the optimizer lowers the
    scale). A bad step is recorded in a `StepGuard` (`step_guard(mode)`)
    and every later step of the same execution (`steps_per_execution > 1`)
    skips its update too, so the weights stay those of the last good step;
    `keras_vae.callbacks.RaiseOnNonFinite` then raises, naming the true
    batch.

    The checks are one fused reduction over the batch, compiled with the step
    (XLA drops `tf.debugging.assert_*` and `check_numerics` ops: measured),
    and the error is raised on the host right after the execution.
    """

    # ------------------------------------------------------------ the steps
    def train_step(self, data):
        x = self.unpack(data)
        data_flags, data_range = self._data_flags(x)
        x = self.preprocess(x, training=True)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, training=True)
            loss = self.compute_loss(x=x, y_pred=terms, training=True)
            scaled = self.optimizer.scale_loss(loss / replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self._apply_if_good(grads, variables, loss, data_flags, data_range)
        return self.compute_metrics(x, None, dict(terms, loss=loss), None)

    def test_step(self, data):
        x = self.unpack(data)
        self._record_step("test", *self._data_flags(x))
        x = self.preprocess(x, training=False)
        terms = self.compute_terms(x, training=False)
        loss = self.compute_loss(x=x, y_pred=terms, training=False)
        return self.compute_metrics(x, None, dict(terms, loss=loss), None)

    def predict_step(self, data):
        """The deterministic reconstruction `reconstruct_tensors(x)` of a
        batch: no sampling, so two `predict` calls return the same values."""
        x = self.unpack(data)
        self._record_step("predict", *self._data_flags(x))
        return self.reconstruct_tensors(x)

    # ---------------------------------------------------------------- checks
    def _data_flags(self, x):
        """`([non-finite, below support, above support], [min, max])` of `x`.

        Shape and dtype are checked when the step is traced.
        """
        self._check_batch_spec(x)
        x = ops.cast(x, "float32")
        non_finite = ops.logical_not(ops.all(ops.isfinite(x)))
        support = self.data_support()
        if support is None:
            below = above = ops.convert_to_tensor(False)
            lo = hi = ops.convert_to_tensor(0.0, "float32")
        else:
            lo, hi = ops.min(x), ops.max(x)
            below, above = lo < support[0], hi > support[1]
        flags = ops.cast(ops.stack([non_finite, below, above]), "float32")
        return flags, ops.stack([lo, hi])

    def _check_batch_spec(self, x):
        """Trace-time checks of a batch's dtype and shape."""
        dtype = tf.as_dtype(x.dtype)
        if not (dtype.is_floating or dtype.is_integer or dtype.is_bool):
            raise ValueError(
                "Expected `x` of a floating dtype (or one convertible to it: "
                f"integer or bool). Received: x.dtype={dtype.name}"
            )
        data_shape = getattr(self, "data_shape", None)
        if not self.built or data_shape is None:
            return
        shape = tuple(x.shape)
        if shape == tuple(data_shape):
            raise ValueError(
                f"Expected batches of shape (batch,) + {tuple(data_shape)}. Received: "
                f"x.shape={shape}, the shape of one example: the data looks "
                "unbatched. Batch the dataset, e.g. `dataset.batch(32)`."
            )
        if shape[1:] != tuple(data_shape):
            raise ValueError(
                f"Expected `x` of shape (batch,) + {tuple(data_shape)}. Received: x.shape={shape}"
            )

    def check_dataset(self, dataset, name="x"):
        """Check a `tf.data.Dataset`'s element spec before any step runs:
        dtype, shape, and that it is batched. Returns the spec of `x`, or
        `None` if the spec is not a `tf.TensorSpec`."""
        spec = dataset.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        if not isinstance(spec, tf.TensorSpec):
            return None
        self._check_batch_spec(spec)
        if not self.built and dataset_looks_unbatched(dataset):
            raise ValueError(
                f"Expected a dataset of batches of shape (batch, ...). Received: a "
                f"dataset of single examples, element_spec shape "
                f"{tuple(spec.shape)} (from `from_tensor_slices`/`unbatch` without "
                f"a later `batch`). Batch the dataset, e.g. `{name}.batch(32)`."
            )
        return spec

    # ------------------------------------------------------------- the guard
    def _untracked(self):
        state = self.__dict__.get("_untracked_state")
        if state is None:
            # A plain object: Keras tracks layers, variables, lists and
            # dicts assigned to a model, not this.
            state = _Untracked()
            self._untracked_state = state
        return state

    def step_guard(self, mode):
        """The `StepGuard` of `mode` (`"train"`, `"test"` or `"predict"`),
        created under the model's strategy on first use."""
        guards = self._untracked().guards
        if mode not in guards:
            with self.distribute_strategy.scope():
                guards[mode] = StepGuard(mode)
        return guards[mode]

    def _record_step(self, mode, flags, data_range):
        """Record a step's flags; returns `(bad, earlier_bad)`.

        Under several replicas the flags (and each replica's data range) are
        all-reduced first, so every replica records, and decides, the same.
        """
        guard = self.step_guard(mode)
        flags = ops.cast(flags, "float32")
        data_range = ops.cast(data_range, "float32")
        k = flags.shape[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            # `ReduceOp` has SUM and MEAN only: gather every replica's flags
            # and data range, then reduce them here.
            ctx = tf.distribute.get_replica_context()
            mine = ops.concatenate([flags, data_range], axis=0)[None]
            every = ctx.all_gather(mine, axis=0)  # (replicas, k + 2)
            flags = ops.reshape(ops.sum(every[:, :k], axis=0), (k,))
            data_range = ops.stack([ops.min(every[:, k]), ops.max(every[:, k + 1])])
        raised = flags > 0.5
        bad = ops.any(raised)
        earlier_bad = guard.bad_step >= 0
        first = ops.logical_and(bad, ops.logical_not(earlier_bad))
        bits = ops.cast(2 ** ops.arange(k), "int64")
        reason = ops.sum(ops.where(raised, bits, ops.zeros_like(bits)))
        guard.bad_step.assign(ops.where(first, guard.step, guard.bad_step))
        guard.reason.assign(ops.where(first, reason, guard.reason))
        guard.data_range.assign(ops.where(first, data_range, guard.data_range))
        guard.step.assign_add(1)
        return bad, earlier_bad

    def _apply_if_good(self, grads, variables, loss, data_flags, data_range):
        finite_grads = _all_finite(list(grads))
        grad_error = ops.logical_not(finite_grads)
        scaling = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        if scaling:
            # A float16 overflow of the scaled gradients is the optimizer's to
            # handle (it halves the scale and skips); at scale <= 1 the
            # gradient itself is not finite.
            scale = ops.convert_to_tensor(self.optimizer.dynamic_scale, "float32")
            grad_error = ops.logical_and(grad_error, scale <= 1.0)
        flags = ops.concatenate(
            [
                data_flags,
                ops.cast(
                    ops.stack([ops.logical_not(ops.all(ops.isfinite(loss))), grad_error]),
                    "float32",
                ),
            ],
            axis=0,
        )
        bad, earlier_bad = self._record_step("train", flags, data_range)
        apply = ops.logical_not(ops.logical_or(bad, earlier_bad))
        if not scaling:
            apply = ops.logical_and(apply, finite_grads)
        self.apply_gradients_if(apply, grads, variables)

    def apply_gradients_if(self, apply, grads, variables):
        """Apply `grads` to `variables` with the model's optimizer if the
        boolean tensor `apply` holds. A subclass may split the update (e.g.
        `VHPVAE` gates its prior's weights)."""
        apply_if(self.optimizer, apply, grads, variables)

    # ------------------------------------------------ Keras trainer plumbing
    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, its callbacks in a `TrueBatchCallbackList`.

        Built as Keras builds its own list (a `History`, a `ProgbarLogger`
        unless `verbose=0`, params `verbose`, `epochs`, `steps`), so with
        `steps_per_execution > 1` the progress bar counts the batches that
        ran (`13/13`, not `25/13`) and every batch-end callback, validation's
        included, gets the index of the last batch an execution ran.
        """
        arguments = bind_arguments(keras.Model.fit, args, kwargs)
        epochs = arguments.get("epochs", 1)
        max_epochs = keras.config.max_epochs()
        if max_epochs and max_epochs < epochs:
            epochs = max_epochs  # as Keras caps them
        arguments["callbacks"] = TrueBatchCallbackList.for_model(
            self,
            arguments.get("callbacks"),
            add_history=True,
            verbose=arguments.get("verbose", "auto"),
            epochs=epochs,
            steps=num_batches(
                arguments.get("x"),
                arguments.get("batch_size"),
                arguments.get("steps_per_epoch"),
                0.0
                if arguments.get("validation_data") is not None
                else arguments.get("validation_split", 0.0),
            ),
        )
        return super().fit(**arguments)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, its callbacks in a `TrueBatchCallbackList`
        (see `fit`); `fit`'s validation passes its own list."""
        return super().evaluate(**self._with_true_batches(keras.Model.evaluate, args, kwargs))

    def predict(self, *args, **kwargs):
        """`keras.Model.predict`, its callbacks in a `TrueBatchCallbackList`
        (see `fit`)."""
        return super().predict(**self._with_true_batches(keras.Model.predict, args, kwargs))

    def _with_true_batches(self, method, args, kwargs):
        """The arguments of one `evaluate`/`predict` call by name, their
        callbacks in a `TrueBatchCallbackList`."""
        arguments = bind_arguments(method, args, kwargs)
        arguments["callbacks"] = TrueBatchCallbackList.for_model(
            self,
            arguments.get("callbacks"),
            verbose=arguments.get("verbose", "auto"),
            epochs=1,
            steps=num_batches(
                arguments.get("x"), arguments.get("batch_size"), arguments.get("steps")
            ),
        )
        return arguments

    def make_train_function(self, force=False):
        self.step_guard("train")
        optimizer = getattr(self, "optimizer", None)
        if self.built and optimizer is not None and not optimizer.built:
            # Before tracing, so the step reads the loss scale's variable.
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)
        return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        self.step_guard("test")
        return super().make_test_function(force=force)

    def make_predict_function(self, force=False):
        self.step_guard("predict")
        return super().make_predict_function(force=force)

    def compiled_function(self, name, fn):
        """`fn` wrapped in an XLA-compiled `tf.function`, cached per model.

        A model created under a multi-replica strategy (e.g. MirroredStrategy)
        has its variables mirrored over devices, which one XLA cluster cannot
        read ("resource located in device CPU:1 from device CPU:0"), so there
        the function runs as a plain graph.
        """
        check_model_backend(self)
        cache = self._untracked().functions
        if name not in cache:
            jit = self.distribute_strategy.num_replicas_in_sync == 1
            cache[name] = tf.function(fn, jit_compile=jit, reduce_retracing=True)
        return cache[name]


def bind_arguments(method, args, kwargs):
    """`method`'s arguments by name, as a caller of `method` passed them."""
    arguments = inspect.signature(method).bind(None, *args, **kwargs).arguments
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return arguments
