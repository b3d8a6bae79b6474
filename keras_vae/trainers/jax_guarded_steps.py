"""JAXGuardedSteps: keras_vae's steps on the JAX backend.

Keras's JAX trainer runs stateless steps, `step(state, data) -> (logs,
state)`, under `jax.jit`: the model's variables come in as arrays and their
new values go out. These steps run the model's hooks inside a
`keras.StatelessScope` that maps every variable to its value in the state,
so the hooks are the same Python as on TensorFlow: an assignment (a seed
generator's state, a GECO multiplier, an EMA codebook, the step guard) is
recorded by the scope and returned with the new state.
"""

import contextlib
import itertools

import jax
import keras
import numpy as np
from keras import ops

from keras_vae.trainers.chunked_log_mean_exp import chunked_log_mean_exp
from keras_vae.trainers.guarded_steps import GuardedSteps


def _current(scope, variables, values):
    """The values of `variables` at the end of `scope` (unassigned: `values`)."""
    out = []
    for variable, value in zip(variables, values):
        new = scope.get_current_value(variable)
        out.append(value if new is None else new)
    return out


def _scope(*pairs):
    """A `keras.StatelessScope` mapping each `(variables, values)` pair."""
    mapping = []
    for variables, values in pairs:
        mapping.extend(zip(variables, values))
    return keras.StatelessScope(state_mapping=mapping, collect_losses=True)


def replicas_in_step():
    """1: a JAX step computes the global batch's loss (Keras's
    `keras.distribution` shards it, with no replicas to sum over)."""
    return 1


def compile_function(model, fn):
    """`fn`, a function of tensors reading `model`'s variables, compiled by
    `jax.jit` as a stateless function of those variables.

    Each call passes the variables' current values in and assigns the
    non-trainable ones `fn` changed (seed generators) back.
    """

    def stateless(trainable, non_trainable, *args):
        with _scope(
            (model.trainable_variables, trainable),
            (model.non_trainable_variables, non_trainable),
        ) as scope:
            out = fn(*args)
        return out, _current(scope, model.non_trainable_variables, non_trainable)

    jitted = jax.jit(stateless)

    def run(*args):
        out, non_trainable = jitted(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            *args,
        )
        for variable, value in zip(model.non_trainable_variables, non_trainable):
            variable.assign(value)
        return out

    return run


def _keeping_state(function, groups):
    """`function(state, iterator)`, which on an error writes `state` back
    to the variables of `groups()` (lists matching the state's parts).

    Keras's JAX trainer takes the values out of the model's variables while
    `fit`/`evaluate`/`predict` run and puts back only a state a call
    returned; a batch refused while the first step is traced (a stream
    with labels, of the wrong shape) would otherwise leave a model without
    weights. Buffers the failed call already consumed are left as they are.
    """

    def run(state, iterator):
        try:
            return function(state, iterator)
        except StopIteration:
            raise
        except BaseException:
            for variables, values in zip(groups(), state):
                for variable, value in zip(variables, values):
                    if not (isinstance(value, jax.Array) and value.is_deleted()):
                        variable.assign(value)
            raise

    return run


def _batch_signature(data):
    """The structure, shapes and dtypes of a batch: batches that can stack."""
    leaves, structure = jax.tree.flatten(data)
    return structure, tuple((np.shape(leaf), np.result_type(leaf)) for leaf in leaves)


def _stack(*parts):
    """Stack a run's batches where they are (on the host, or the device)."""
    if isinstance(parts[0], jax.Array):
        return jax.numpy.stack(parts)
    return np.stack(parts)


class JAXGuardedSteps(GuardedSteps):
    """`GuardedSteps` on JAX: stateless steps compiled by `jax.jit` (one
    replica; Keras's `keras.distribution` shards the same step)."""

    # ------------------------------------------------------------ the state
    @property
    def non_trainable_variables(self):
        """Keras's non-trainable variables, then `step_state_variables()`.

        What a step updates outside the model's weights (the step guards'
        counters) travels, on JAX, in the step's state with the other
        non-trainable variables; it is not saved (saving reads each layer's
        own variables, not this list).
        """
        return super().non_trainable_variables + self.step_state_variables()

    # ------------------------------------------------------------ the steps
    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        x = self.unpack(data)
        data_flags, data_range = self.data_flags(x)
        model_vars = (self.trainable_variables, self.non_trainable_variables)
        optimizer_vars = self.optimizer.variables

        def scaled_loss(trainable, non_trainable):
            with _scope(
                (model_vars[0], trainable),
                (model_vars[1], non_trainable),
                (optimizer_vars, optimizer_values),
            ) as scope:
                x_seen = self.preprocess(x, training=True)
                terms = self.compute_terms(x_seen, training=True)
                loss = self.compute_loss(x=x_seen, y_pred=terms, training=True)
                scaled = self.optimizer.scale_loss(loss)
            # A forward pass may assign a trainable variable (an EMA
            # codebook): the update starts from that value, as on TensorFlow.
            assigned = [ops.stop_gradient(v) for v in _current(scope, model_vars[0], trainable)]
            non_trainable = _current(scope, model_vars[1], non_trainable)
            return scaled, (loss, terms, x_seen, assigned, non_trainable)

        grad_fn = jax.value_and_grad(scaled_loss, has_aux=True)
        (_, aux), grads = grad_fn(trainable, non_trainable)
        loss, terms, x_seen, trainable, non_trainable = aux
        every = (
            (model_vars[0], trainable),
            (model_vars[1], non_trainable),
            (optimizer_vars, optimizer_values),
            (self.metrics_variables, metrics_values),
        )
        with _scope(*every) as scope:
            self.guarded_update(grads, model_vars[0], loss, data_flags, data_range)
            logs = self.compute_metrics(x_seen, None, dict(terms, loss=loss), None)
        return logs, tuple(_current(scope, variables, values) for variables, values in every)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        x = self.unpack(data)
        every = (
            (self.trainable_variables, trainable),
            (self.non_trainable_variables, non_trainable),
            (self.metrics_variables, metrics_values),
        )
        with _scope(*every) as scope:
            self.record_step("test", *self.data_flags(x))
            x = self.preprocess(x, training=False)
            terms = self.compute_terms(x, training=False)
            loss = self.compute_loss(x=x, y_pred=terms, training=False)
            logs = self.compute_metrics(x, None, dict(terms, loss=loss), None)
        return logs, tuple(_current(scope, variables, values) for variables, values in every)

    def predict_step(self, state, data):
        """The deterministic reconstruction `reconstruct_tensors(x)` of a
        batch: no sampling, so two `predict` calls return the same values."""
        trainable, non_trainable = state
        x = self.unpack(data)
        every = (
            (self.trainable_variables, trainable),
            (self.non_trainable_variables, non_trainable),
        )
        with _scope(*every) as scope:
            self.record_step("predict", *self.data_flags(x))
            outputs = self.reconstruct_tensors(x)
        return outputs, _current(scope, self.non_trainable_variables, non_trainable)

    def make_train_function(self, force=False):
        """Keras's train function, the steps of one execution fused.

        With `steps_per_execution = n > 1` under XLA, Keras's JAX trainer
        calls the jitted step once per batch from Python, passing the whole
        state (weights, optimizer slots, metrics) in and out each time.
        Here the n batches of an execution are stacked and run as one
        `jax.lax.scan` of the same step inside one jitted call. Consecutive
        batches of one shape form a run (the epoch's shorter last run and
        a smaller last batch are runs of their own), so each distinct
        (length, batch shape) compiles once. The state after the run and
        the last step's logs are what the per-step calls would return.
        """
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        groups = lambda: self.state_variables("train")  # noqa: E731
        if (
            self.run_eagerly
            or not self.jit_compile
            or self.steps_per_execution < 2
            or keras.distribution.distribution() is not None
        ):
            self.train_function = _keeping_state(self.train_function, groups)
            return self.train_function

        def run(state, stacked):
            state, logs = jax.lax.scan(
                lambda state, data: self.train_step(state, data)[::-1], state, stacked
            )
            return jax.tree.map(lambda log: log[-1], logs), state

        fused = jax.jit(run, donate_argnums=0)
        steps = self.steps_per_execution

        def iterator_step(state, iterator):
            batches = [next(iterator)]  # an empty iterator ends the epoch
            batches.extend(itertools.islice(iterator, steps - 1))
            for _, group in itertools.groupby(batches, key=_batch_signature):
                group = list(group)
                stacked = jax.tree.map(_stack, *group)
                logs, state = fused(state, stacked)
            return logs, state

        self.train_function = _keeping_state(iterator_step, groups)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        super().make_test_function(force=force)
        self.test_function = _keeping_state(
            self.test_function, lambda: self.state_variables("test")
        )
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        super().make_predict_function(force=force)
        self.predict_function = _keeping_state(
            self.predict_function, lambda: self.state_variables("predict")
        )
        return self.predict_function

    def state_variables(self, mode):
        """The variable lists of the state Keras's JAX trainer passes to a
        `mode` step (`"train"`, `"test"` or `"predict"`), in its order."""
        parts = [self.trainable_variables, self.non_trainable_variables]
        if mode == "train":
            parts.append(self.optimizer.variables)
        if mode != "predict":
            parts.append(self.metrics_variables)
        return parts

    # --------------------------------------------------------- backend hooks
    @property
    def num_replicas(self):
        return replicas_in_step()

    def strategy_scope(self):
        """A no-op scope (JAX has no `tf.distribute` strategy)."""
        return contextlib.nullcontext()

    def gather_replicas(self, values):
        return values[None]

    def optimizer_apply_if(self, optimizer, apply, grads, variables):
        """`optimizer.apply(grads, variables)` if the boolean tensor `apply` holds.

        One `jax.lax.cond`: where `apply` holds, the update's branch gives
        the new weights and optimizer slots (iteration count included);
        elsewhere the other branch returns them unchanged. A `where(apply,
        new, old)` over every variable instead would cost a select per
        element and make XLA recompute the slots inside each weight's
        update (measured: `benchmarks/jax_step_profile.py`). A
        `LossScaleOptimizer` (whose `apply` branches with assignments, which
        JAX cannot trace) updates through its `stateless_apply`.
        """
        variables = list(variables)
        touched = variables + list(optimizer.variables)
        scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def update(old):
            if scaling:
                weights, slots = optimizer.stateless_apply(
                    old[len(variables) :], grads, old[: len(variables)]
                )
                return list(weights) + list(slots)
            with keras.StatelessScope(state_mapping=list(zip(touched, old))) as scope:
                optimizer.apply(grads, variables)
            return _current(scope, touched, old)

        new = jax.lax.cond(apply, update, list, [v.value for v in touched])
        for variable, value in zip(touched, new):
            variable.assign(value)

    def compile_function(self, fn):
        """`fn` compiled for this model (the module's `compile_function`)."""
        return compile_function(self, fn)

    def estimate_log_mean_exp(self, name, log_weights, x, num_importance_samples, chunk_size):
        """log (1/S) sum_s exp(w_s) per example, in one compiled loop.

        `log_weights(x, k)` gives `(k, batch)` log weights of k fresh
        samples; `chunked_log_mean_exp` draws the S samples in chunks of
        `chunk_size` inside one `jax.jit` call (S is an argument, not a
        constant), carrying the model's variables (the seed generators'
        states) through its loop. Returns a `(batch,)` array.
        """
        fn = self.compiled_function(
            f"{name}_{chunk_size}",
            lambda x, num: chunked_log_mean_exp(
                lambda k: log_weights(x, k),
                num,
                chunk_size,
                ops.shape(x)[0],
                variables=self.trainable_variables + self.non_trainable_variables,
            ),
        )
        return np.asarray(fn(x, np.int32(num_importance_samples)), "float64")

    def sync_state(self):
        """Write the state Keras's JAX trainer holds mid-`fit` back into the
        model's variables."""
        self.jax_state_sync()
