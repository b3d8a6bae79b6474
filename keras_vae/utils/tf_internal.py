"""The private TensorFlow APIs keras_vae relies on, isolated in one module.

Each function wraps one non-public TensorFlow entry point, so a TensorFlow
release that removes or renames it breaks this module only, and
`tests/utils/test_tf_internal.py` fails loudly naming it.

- `strategy_supports_no_merge_call()` wraps
  `tf.__internal__.distribute.strategy_supports_no_merge_call`: the test
  Keras's own optimizer makes (through
  `tf.__internal__.distribute.interim.maybe_merge_call` in
  `keras/src/backend/tensorflow/optimizer.py`,
  `TFOptimizer._distributed_tf_update_step`) to choose between updating in
  the replica context and a `merge_call` into the cross-replica context.
- `dataset_inputs(dataset)` wraps `tf.data.Dataset._inputs()`, the input
  datasets of a transformation (used only when the public element spec
  cannot tell whether a pipeline is batched).
- `in_xla_context()` wraps
  `tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext`:
  whether the function being traced is compiled by XLA (a
  `tf.function(jit_compile=True)`), so `keras_vae.utils.random` can use the
  sampler that is fast there but has no kernel outside XLA.
"""

import tensorflow as tf


def strategy_supports_no_merge_call():
    """Whether the current strategy updates variables in replica context.

    `True` outside any strategy and for strategies (MirroredStrategy with
    NCCL/all-reduce, the default strategy) whose optimizer updates need no
    `merge_call`; `False` otherwise (e.g. some `ParameterServerStrategy`
    setups), where an update inside a `tf.cond` must move to the
    cross-replica context.
    """
    return tf.__internal__.distribute.strategy_supports_no_merge_call()


def dataset_inputs(dataset):
    """The input datasets of a `tf.data` transformation, or `None` if the
    private accessor is missing or fails (then do not guess)."""
    inputs = getattr(dataset, "_inputs", None)
    if not callable(inputs):
        return None
    try:
        return list(inputs())
    except Exception:  # a private API: when it changes, do not guess
        return None


def in_xla_context():
    """Whether the graph being traced (or a graph it is nested in) is
    compiled by XLA; `False` in eager mode."""
    from tensorflow.python.ops import control_flow_util

    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())
