"""GuardedSteps: the train/test/predict steps' contract, on every backend.

Keras splits its trainer into a backend-neutral `Trainer` and one class per
backend; so does keras_vae: this class holds what the steps of every backend
share (the data checks, the step guard, the guarded update, the callback
list of `fit`/`evaluate`/`predict`), and `TensorFlowGuardedSteps` and
`JAXGuardedSteps` hold the steps themselves.
"""

import inspect

import keras
from keras import ops

from keras_vae.trainers.step_guard import MODES
from keras_vae.trainers.step_guard import StepGuard
from keras_vae.trainers.true_batch_callback_list import TrueBatchCallbackList
from keras_vae.trainers.true_batch_callback_list import num_batches


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
    - `compute_terms(x, training)`: the forward pass, a dict of the
      objective's terms per example;
    - `compute_loss(x=x, y_pred=terms, training=...)`: the scalar loss to
      minimize (Keras's extension point: a subclass may add terms);
    - `compute_metrics(x, y, y_pred, sample_weight)`: updates the metric
      trackers from `y_pred` (the terms, with `"loss"` the value of
      `compute_loss`) and returns their results;
    - `reconstruct_tensors(x)`: what `predict` returns for a batch;
    - `data_support()`: `(low, high)` of valid data values, or `None`;
    - `data_shape`: the shape of one example once built (or `None`).

    A train step is

    ```none
    x      = preprocess(unpack(data), training=True)
    terms  = compute_terms(x, training=True)
    loss   = compute_loss(x=x, y_pred=terms, training=True)
    grads  = d loss / d trainable_variables        (per backend)
    apply_gradients_if(step is good, grads, trainable_variables)
    return compute_metrics(x, None, terms | {"loss": loss}, None)
    ```

    The loss is divided by the number of replicas (Keras sums gradients over
    replicas) and the optimizer update is skipped when the batch breaks the
    data's rules (not finite, outside `data_support()`), the loss is not
    finite, or a gradient is not finite (under `LossScaleOptimizer`, only
    once the loss scale is down to 1: before that a float16 overflow is not
    an error, and the optimizer lowers the scale). A bad step is recorded
    in a `StepGuard` (`step_guard(mode)`) and every later step of the same
    execution (`steps_per_execution > 1`) skips its update too, so the
    weights stay those of the last good step;
    `keras_vae.callbacks.RaiseOnNonFinite` then raises, naming the true
    batch.

    The checks are one fused reduction over the batch, compiled with the
    step (XLA drops `tf.debugging.assert_*` and `check_numerics` ops:
    measured), and the error is raised on the host right after the
    execution.

    Each backend's class (`keras_vae.trainers.TensorFlowGuardedSteps`,
    `keras_vae.trainers.JAXGuardedSteps`) implements the steps and these
    hooks: `num_replicas`, `strategy_scope()`, `gather_replicas(values)`,
    `optimizer_apply_if(optimizer, apply, grads, variables)`,
    `compile_function(fn)`, `estimate_log_mean_exp` and `sync_state()`.
    """

    # ---------------------------------------------------------------- checks
    def data_flags(self, x):
        """`([non-finite, below support, above support], [min, max])` of `x`.

        Shape and dtype are checked when the step is traced.
        """
        self.check_batch_spec(x)
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

    def check_batch_spec(self, x):
        """Trace-time checks of a batch's (or a `TensorSpec`'s) dtype and shape."""
        dtype = keras.backend.standardize_dtype(x.dtype)
        if not any(kind in dtype for kind in ("float", "int", "bool")):
            raise ValueError(
                "Expected `x` of a floating dtype (or one convertible to it: "
                f"integer or bool). Received: x.dtype={dtype}"
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
        from keras_vae.trainers.dataset_checks import dataset_looks_unbatched
        from keras_vae.trainers.dataset_checks import is_tensor_spec

        spec = dataset.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        if not is_tensor_spec(spec):
            return None
        self.check_batch_spec(spec)
        if not self.built and dataset_looks_unbatched(dataset):
            raise ValueError(
                f"Expected a dataset of batches of shape (batch, ...). Received: a "
                f"dataset of single examples, element_spec shape "
                f"{tuple(spec.shape)} (from `from_tensor_slices`/`unbatch` without "
                f"a later `batch`). Batch the dataset, e.g. `{name}.batch(32)`."
            )
        return spec

    # ------------------------------------------------------------- the guard
    def untracked_state(self):
        """The model's step guards and compiled functions (`_Untracked`)."""
        state = self.__dict__.get("_untracked_state")
        if state is None:
            # A plain object: Keras tracks layers, variables, lists and
            # dicts assigned to a model, not this.
            state = _Untracked()
            self._untracked_state = state
        return state

    def step_guard(self, mode):
        """The `StepGuard` of `mode` (`"train"`, `"test"` or `"predict"`).

        The three are created together, under the model's strategy, on
        first use: a step's state then holds the same variables in every
        mode.
        """
        guards = self.untracked_state().guards
        if not guards:
            with self.strategy_scope():
                guards.update({m: StepGuard(m) for m in MODES})
        return guards[mode]

    def compiled_function(self, name, fn):
        """`fn` compiled by the backend (`compile_function`), cached per
        model under `name`."""
        cache = self.untracked_state().functions
        if name not in cache:
            cache[name] = self.compile_function(fn)
        return cache[name]

    def step_state_variables(self):
        """Variables outside the model's weights and optimizer that a step
        updates: the step guards'. A subclass with its own (e.g. `VHPVAE`'s
        second optimizer) adds them; on JAX they travel in the step's state."""
        guards = self.untracked_state().guards
        return [v for mode in sorted(guards) for v in guards[mode].variables]

    def record_step(self, mode, flags, data_range):
        """Record a step's flags; returns `(bad, earlier_bad)`.

        Under several replicas the flags (and each replica's data range) are
        gathered first, so every replica records, and decides, the same.
        """
        flags = ops.cast(flags, "float32")
        data_range = ops.cast(data_range, "float32")
        if self.num_replicas > 1:
            k = flags.shape[0]
            every = self.gather_replicas(ops.concatenate([flags, data_range], axis=0))
            flags = ops.reshape(ops.sum(every[:, :k], axis=0), (k,))
            data_range = ops.stack([ops.min(every[:, k]), ops.max(every[:, k + 1])])
        return self.step_guard(mode).record(flags, data_range)

    def guarded_update(self, grads, variables, loss, data_flags, data_range):
        """Record a train step's flags and apply `grads` if the step is good."""
        # A weight the loss does not reach has no gradient (`None`).
        flags = [ops.all(ops.isfinite(g)) for g in grads if g is not None]
        finite_grads = ops.all(ops.stack(flags)) if flags else ops.convert_to_tensor(True)
        grad_error = ops.logical_not(finite_grads)
        scaling = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        if scaling:
            # A float16 overflow of the scaled gradients is the optimizer's to
            # handle (it halves the scale and skips); at scale <= 1 the
            # gradient itself is not finite.
            scale = ops.convert_to_tensor(self.optimizer.dynamic_scale, "float32")
            grad_error = ops.logical_and(grad_error, scale <= 1.0)
        loss_error = ops.logical_not(ops.all(ops.isfinite(loss)))
        flags = ops.concatenate(
            [data_flags, ops.cast(ops.stack([loss_error, grad_error]), "float32")], axis=0
        )
        bad, earlier_bad = self.record_step("train", flags, data_range)
        apply = ops.logical_not(ops.logical_or(bad, earlier_bad))
        if not scaling:
            apply = ops.logical_and(apply, finite_grads)
        self.apply_gradients_if(apply, grads, variables)

    def apply_gradients_if(self, apply, grads, variables):
        """Apply `grads` to `variables` with the model's optimizer if the
        boolean tensor `apply` holds. A subclass may split the update (e.g.
        `VHPVAE` gates its prior's weights, with `optimizer_apply_if`)."""
        self.optimizer_apply_if(self.optimizer, apply, grads, variables)

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
            with self.strategy_scope():
                optimizer.build(self.trainable_variables)
        return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        self.step_guard("test")
        return super().make_test_function(force=force)

    def make_predict_function(self, force=False):
        self.step_guard("predict")
        return super().make_predict_function(force=force)


def bind_arguments(method, args, kwargs):
    """`method`'s arguments by name, as a caller of `method` passed them."""
    arguments = inspect.signature(method).bind(None, *args, **kwargs).arguments
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return arguments
