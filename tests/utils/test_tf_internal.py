"""The private TensorFlow entry points of `keras_vae.utils.tf_internal` exist.

If one of these fails after a TensorFlow upgrade, TensorFlow removed or
renamed a private API keras_vae relies on: update
`keras_vae/utils/tf_internal.py` (and only it).
"""

import numpy as np
import tensorflow as tf

from keras_vae.trainers.dataset_checks import dataset_looks_unbatched
from keras_vae.utils import tf_internal


def test_strategy_supports_no_merge_call_exists():
    assert callable(getattr(tf.__internal__.distribute, "strategy_supports_no_merge_call", None)), (
        "TensorFlow removed tf.__internal__.distribute.strategy_supports_no_merge_call"
    )
    # Outside any strategy the update runs in replica context.
    assert tf_internal.strategy_supports_no_merge_call() is True


def test_dataset_inputs_exists():
    source = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2), "float32"))
    mapped = source.map(lambda x: x)
    assert callable(getattr(mapped, "_inputs", None)), "tf.data removed Dataset._inputs"
    inputs = tf_internal.dataset_inputs(mapped)
    assert inputs is not None and len(inputs) == 1
    # The walk it serves: rows through element-wise steps are unbatched,
    # a batch (unknown leading dimension, public spec) is not.
    assert dataset_looks_unbatched(mapped.prefetch(1))
    assert not dataset_looks_unbatched(source.batch(2).map(lambda x: x))


def test_in_xla_context_exists():
    from tensorflow.python.ops import control_flow_util

    assert callable(getattr(control_flow_util, "GraphOrParentsInXlaContext", None)), (
        "TensorFlow removed control_flow_util.GraphOrParentsInXlaContext"
    )
    seen = {}

    def probe(name):
        seen[name] = tf_internal.in_xla_context()
        return tf.constant(0.0)

    tf.function(lambda: probe("xla"), jit_compile=True)()
    tf.function(lambda: probe("graph"))()
    probe("eager")
    assert seen == {"xla": True, "graph": False, "eager": False}
