"""Cross-replica reductions for layers that keep dataset statistics.

Layers such as `VectorQuantizerEMA` update variables from batch statistics
inside `call`. Under `tf.distribute` each replica sees only its shard of the
global batch, so the statistics are summed (or the shards gathered) over
replicas first; every replica then applies the identical update. Outside a
replica context (eager code, the default strategy, cross-replica code) the
helpers return their inputs. This is the only TensorFlow-specific code of
those layers; another backend would reduce here.

Under JAX the helpers return their inputs: correct on one device, the only
JAX setup keras_vae supports so far (a multi-device JAX run would need
`keras.distribution` and a reduction over its mesh here).
"""

import keras

_TENSORFLOW = keras.backend.backend() == "tensorflow"
if _TENSORFLOW:  # other backends need no TensorFlow installed
    import tensorflow as tf


def _replica_context():
    """The replica context if more than one replica runs in sync, else None."""
    if not _TENSORFLOW:
        # One JAX device: nothing to reduce (see the module docstring).
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def num_replicas():
    """Number of replicas in sync in the current replica context (1 if none)."""
    context = _replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def replica_sum(*tensors):
    """Sum each tensor over the replicas in sync (identity on one replica)."""
    context = _replica_context()
    if context is None:
        return tensors if len(tensors) > 1 else tensors[0]
    summed = context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors))
    return tuple(summed) if len(tensors) > 1 else summed[0]


def replica_concat(tensor):
    """Concatenate the replicas' tensors along axis 0, in replica order.

    With `MirroredStrategy` replica `i` holds the `i`-th slice of the global
    batch, so the result is the global batch in its original order, the same
    on every replica.
    """
    context = _replica_context()
    if context is None:
        return tensor
    return context.all_gather(tensor, axis=0)
