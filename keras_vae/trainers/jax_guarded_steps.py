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
import math

import jax
import keras
import numpy as np
from keras import ops

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

        Inside a traced step both branches are computed: the update is
        applied, then every variable it touched (the weights, the
        optimizer's slots and iteration count) takes its new value where
        `apply` holds and keeps its old one elsewhere. A
        `LossScaleOptimizer` (whose `apply` branches with assignments, which
        JAX cannot trace) updates through its `stateless_apply`.
        """
        variables = list(variables)
        touched = variables + list(optimizer.variables)
        old = [v.value for v in touched]
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            new_weights, new_slots = optimizer.stateless_apply(
                old[len(variables) :], grads, old[: len(variables)]
            )
            new = list(new_weights) + list(new_slots)
        else:
            optimizer.apply(grads, variables)
            new = [v.value for v in touched]
        for variable, before, after in zip(touched, old, new):
            variable.assign(ops.where(apply, after, before))

    def compile_function(self, fn):
        """`fn` compiled for this model (the module's `compile_function`)."""
        return compile_function(self, fn)

    def estimate_log_mean_exp(self, name, log_weights, x, num_importance_samples, chunk_size):
        """log (1/S) sum_s exp(w_s) per example, one compiled call per chunk.

        `log_weights(x, k)` gives `(k, batch)` log weights of k fresh
        samples. Each call draws a full chunk and returns the log-sum-exp
        of its first `valid` samples; the chunks are combined on the host
        in float64. Returns a `(batch,)` array.
        """

        def chunk(x, valid):
            log_w = ops.cast(log_weights(x, chunk_size), "float32")
            keep = ops.arange(chunk_size)[:, None] < valid
            return ops.logsumexp(ops.where(keep, log_w, -math.inf), axis=0)

        fn = self.compiled_function(f"{name}_{chunk_size}", chunk)
        total = np.full((x.shape[0],), -np.inf)
        for start in range(0, num_importance_samples, chunk_size):
            valid = np.int32(min(chunk_size, num_importance_samples - start))
            total = np.logaddexp(total, np.asarray(fn(x, valid), "float64"))
        return total - math.log(num_importance_samples)

    def sync_state(self):
        """Write the state Keras's JAX trainer holds mid-`fit` back into the
        model's variables."""
        self.jax_state_sync()
