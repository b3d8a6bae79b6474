"""Test helpers that hide the backend: gradients, XLA, float64.

A test that differentiates a layer, or compares its eager and compiled
values, writes the function once and runs it under either backend:

- `value_and_grad(fn, args, variables)`: the value of `fn(*args)` and its
  gradients with respect to the tensors `args` and the Keras variables
  `variables`;
- `compiled(fn, state)`: `fn` compiled with XLA;
- `float64_available()` / `requires_float64`: JAX computes in float32
  unless `JAX_ENABLE_X64` is set, so float64 tests skip there;

On TensorFlow these are `tf.GradientTape` and `tf.function(jit_compile=True)`.
On JAX they are `jax.value_and_grad` and `jax.jit` of a pure function, as
Keras's JAX trainer runs a step: the variables' values enter as arguments
inside a `keras.StatelessScope`, and the values the function assigns
(seed-generator states, EMA statistics, counters) are assigned to the
variables after it returns, so a test sees the same state changes on both
backends. The layers must be built first (JAX cannot create variables
inside a trace).
"""

import keras
from keras import ops

_TENSORFLOW = keras.backend.backend() == "tensorflow"


# The open `_RecordingScope`s, innermost last.
_SCOPES = []


class _RecordingScope(keras.StatelessScope):
    """A `StatelessScope` that remembers which variables were assigned.

    It collects the layers' `add_loss` terms, so `layer.losses` read inside
    the function holds them, as on TensorFlow. Nested in another (a
    `value_and_grad` inside a `compiled` function), it starts from the
    values of the enclosing one, so the inner function reads the traced
    values rather than the variables' stored ones.
    """

    def __init__(self, state_mapping=None):
        super().__init__(state_mapping=state_mapping, collect_losses=True)
        if _SCOPES:
            self.state_mapping = {**_SCOPES[-1].state_mapping, **self.state_mapping}
        self.assigned = {}

    def __enter__(self):
        _SCOPES.append(self)
        return super().__enter__()

    def __exit__(self, *args, **kwargs):
        _SCOPES.pop()
        return super().__exit__(*args, **kwargs)

    def add_update(self, update):
        variable, _ = update
        self.assigned[id(variable)] = variable
        super().add_update(update)

    def updates(self):
        """`(variables, values)`: every assigned variable and its new value."""
        variables = list(self.assigned.values())
        return variables, [self.get_current_value(v) for v in variables]


def _loss_of(out, has_aux):
    return out[0] if has_aux else out


def value_and_grad(fn, args=(), variables=(), has_aux=False):
    """`fn(*args)` and its gradients with respect to `args` and `variables`.

    Args:
        fn: Returns a scalar tensor, or with `has_aux=True` a tuple whose
            first element is that scalar (the rest is returned as is).
        args: Tensors or arrays, passed to `fn` as positional arguments.
        variables: Keras variables that `fn` reads.
        has_aux: Whether `fn` returns `(scalar, *aux)`.

    Returns:
        `(out, grads)`: the output of `fn` and a list of gradients, one per
        element of `args` then of `variables`. A source the value does not
        depend on gets `None` on TensorFlow and zeros on JAX.
    """
    args = [ops.convert_to_tensor(a) for a in args]
    variables = list(variables)
    if _TENSORFLOW:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(args)
            out = fn(*args)
        sources = args + [v.value for v in variables]
        return out, tape.gradient(_loss_of(out, has_aux), sources)

    import jax

    def pure(arg_values, variable_values):
        with _RecordingScope(list(zip(variables, variable_values))) as scope:
            out = fn(*arg_values)
        return _loss_of(out, has_aux), (out, scope.updates())

    grad_fn = jax.value_and_grad(pure, argnums=(0, 1), has_aux=True)
    (_, (out, (assigned, values))), (arg_grads, variable_grads) = grad_fn(
        args, [v.value for v in variables]
    )
    for variable, value in zip(assigned, values):
        variable.assign(value)
    return out, list(arg_grads) + list(variable_grads)


def _state_variables(state):
    variables = []
    for item in state:
        if isinstance(item, keras.random.SeedGenerator):
            variables.append(item.state)
        elif hasattr(item, "variables"):
            variables.extend(item.variables)
        else:
            variables.append(item)
    unique = {id(v): v for v in variables}
    return list(unique.values())


def compiled(fn, state=()):
    """`fn` compiled with XLA; it may read and assign the variables of `state`.

    Args:
        fn: A function of tensors.
        state: Layers, models, seed generators or Keras variables whose
            variables `fn` reads or assigns. On JAX they are arguments of the compiled function
            (read afresh on every call, assigned after it); a variable `fn`
            assigns that is not among them raises a `ValueError`. On
            TensorFlow `tf.function` tracks them itself.

    Returns:
        A function with the signature of `fn`.
    """
    if _TENSORFLOW:
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)

    import jax

    variables = _state_variables(state)
    known = {id(v) for v in variables}

    def pure(variable_values, *args):
        with _RecordingScope(list(zip(variables, variable_values))) as scope:
            out = fn(*args)
        assigned, values = scope.updates()
        unknown = [v.path for v in assigned if id(v) not in known]
        if unknown:
            raise ValueError(
                "Expected the compiled function to assign only variables of "
                f"`state`. Received: assignments to {unknown}"
            )
        return out, [scope.get_current_value(v) for v in variables]

    jitted = jax.jit(pure)

    def call(*args):
        out, values = jitted([v.value for v in variables], *args)
        for variable, value in zip(variables, values):
            if value is not None:
                variable.assign(value)
        return out

    return call


def float64_available():
    """Whether float64 tensors keep float64 (on JAX only with `JAX_ENABLE_X64`)."""
    if _TENSORFLOW:
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


def requires_float64(test):
    """Skip `test` (a function or class) where float64 is not available."""
    import pytest

    return pytest.mark.skipif(
        not float64_available(),
        reason="float64 needs JAX_ENABLE_X64=1 on JAX (float32 otherwise)",
    )(test)
