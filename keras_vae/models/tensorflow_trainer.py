"""TensorFlow-specific training steps shared by every keras_vae model.

Everything that needs `tf.GradientTape` or `tf.distribute` lives here, so a
later JAX backend is a contained change.
"""

import tensorflow as tf
from keras import ops


def _all_finite(values):
    flags = [ops.all(ops.isfinite(v)) for v in values if v is not None]
    return ops.all(ops.stack(flags))


class TensorFlowTrainer:
    """Mixin with `train_step`/`test_step` for `LatentVariableModel`.

    The step computes the model's objective with `compute_terms`, divides the
    loss by the number of replicas (Keras sums gradients over replicas) and
    skips the optimizer update when the loss or a gradient is not finite, so
    the weights stay those of the last good step.
    """

    def train_step(self, data):
        x = self._unpack(data)
        if self.dynamic_binarization:
            x = self.binarize(x)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self._total_terms(x, training=True)
            loss = terms["loss"]
            scaled = self.optimizer.scale_loss(loss / replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self._apply_if_finite(grads, variables, loss)
        return self._update_trackers(terms)

    def test_step(self, data):
        return self._update_trackers(self._total_terms(self._unpack(data), training=False))

    def predict_step(self, data):
        return self(self._unpack(data), training=False)

    def _apply_if_finite(self, grads, variables, loss):
        finite = _all_finite(list(grads) + [loss])
        ctx = tf.distribute.get_replica_context()
        strategy = tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1:
            # Replicas must agree, or one would update and the other not.
            # `ReduceOp` has only SUM and MEAN (no MIN): count the replicas
            # that saw a non-finite value.
            bad = ctx.all_reduce("sum", ops.cast(ops.logical_not(finite), "float32"))
            finite = bad < 0.5
        if tf.__internal__.distribute.strategy_supports_no_merge_call():

            def apply_fn():
                self.optimizer.apply(grads, variables)

            tf.cond(finite, apply_fn, lambda: None)
            return

        # The optimizer update calls `merge_call`, which may not sit in a cond
        # inside a replica context: branch in the cross-replica context.
        def cross_replica(distribution, grads, finite):
            finite = distribution.experimental_local_results(finite)[0]

            def apply_fn():
                distribution.extended.call_for_each_replica(
                    self.optimizer.apply, args=(grads, variables)
                )

            tf.cond(finite, apply_fn, lambda: None)

        ctx.merge_call(cross_replica, args=(grads, finite))

    def _compiled(self, name, fn):
        """`fn` wrapped in an XLA-compiled `tf.function`, cached per model.

        A model created under a multi-replica strategy (e.g. MirroredStrategy)
        has its variables mirrored over devices, which one XLA cluster cannot
        read ("resource located in device CPU:1 from device CPU:0"), so there
        the function runs as a plain graph.
        """
        cache = self.__dict__.setdefault("_compiled_functions", {})
        if name not in cache:
            jit = self.distribute_strategy.num_replicas_in_sync == 1
            cache[name] = tf.function(fn, jit_compile=jit, reduce_retracing=True)
        return cache[name]
