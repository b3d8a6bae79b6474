"""TensorFlowGuardedSteps: keras_vae's steps on the TensorFlow backend.

Everything that needs `tf.GradientTape`, `tf.function` or `tf.distribute`.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from keras_vae.trainers.chunked_log_mean_exp import chunked_log_mean_exp
from keras_vae.trainers.guarded_steps import GuardedSteps
from keras_vae.utils import tf_internal


def replicas_in_step():
    """Replicas of the step being traced (of the current strategy outside one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def compile_function(model, fn):
    """`fn`, a function of tensors reading `model`'s variables, wrapped in an
    XLA-compiled `tf.function`.

    A model created under a multi-replica strategy (e.g. MirroredStrategy)
    has its variables mirrored over devices, which one XLA cluster cannot
    read ("resource located in device CPU:1 from device CPU:0"), so there
    the function runs as a plain graph.
    """
    jit = model.distribute_strategy.num_replicas_in_sync == 1
    return tf.function(fn, jit_compile=jit, reduce_retracing=True)


class TensorFlowGuardedSteps(GuardedSteps):
    """`GuardedSteps` on TensorFlow: steps traced by Keras's `tf.function`
    (XLA by default, see `Autoencoder.compile`), gradients from a
    `tf.GradientTape`, replicas from the model's `tf.distribute` strategy."""

    # ------------------------------------------------------------ the steps
    def train_step(self, data):
        x = self.unpack(data)
        data_flags, data_range = self.data_flags(x)
        x = self.preprocess(x, training=True)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, training=True)
            loss = self.compute_loss(x=x, y_pred=terms, training=True)
            scaled = self.optimizer.scale_loss(loss / self.num_replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.guarded_update(grads, variables, loss, data_flags, data_range)
        return self.compute_metrics(x, None, dict(terms, loss=loss), None)

    def test_step(self, data):
        x = self.unpack(data)
        self.record_step("test", *self.data_flags(x))
        x = self.preprocess(x, training=False)
        terms = self.compute_terms(x, training=False)
        loss = self.compute_loss(x=x, y_pred=terms, training=False)
        return self.compute_metrics(x, None, dict(terms, loss=loss), None)

    def predict_step(self, data):
        """The deterministic reconstruction `reconstruct_tensors(x)` of a
        batch: no sampling, so two `predict` calls return the same values."""
        x = self.unpack(data)
        self.record_step("predict", *self.data_flags(x))
        return self.reconstruct_tensors(x)

    # --------------------------------------------------------- backend hooks
    @property
    def num_replicas(self):
        """Replicas of the model's `tf.distribute` strategy (the one its steps
        run under; `compile` reads it outside any step, where the current
        strategy is the default one)."""
        return self.distribute_strategy.num_replicas_in_sync

    def strategy_scope(self):
        """The scope of the model's `tf.distribute` strategy."""
        return self.distribute_strategy.scope()

    def gather_replicas(self, values):
        """`(replicas,) + values.shape`: every replica's `values`."""
        return tf.distribute.get_replica_context().all_gather(values[None], axis=0)

    def optimizer_apply_if(self, optimizer, apply, grads, variables):
        """`optimizer.apply(grads, variables)` if the boolean tensor `apply` holds.

        The optimizer update calls `merge_call`, which may not sit in a cond
        inside a replica context, so under a strategy without merge-call
        support the branch is taken in the cross-replica context.
        """
        if tf_internal.strategy_supports_no_merge_call():

            def apply_fn():
                optimizer.apply(grads, variables)

            tf.cond(apply, apply_fn, lambda: None)
            return

        def cross_replica(distribution, grads, apply):
            apply = distribution.experimental_local_results(apply)[0]

            def apply_fn():
                distribution.extended.call_for_each_replica(
                    optimizer.apply, args=(grads, variables)
                )

            tf.cond(apply, apply_fn, lambda: None)

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, apply))

    def compile_function(self, fn):
        """`fn` compiled for this model (the module's `compile_function`)."""
        return compile_function(self, fn)

    def estimate_log_mean_exp(self, name, log_weights, x, num_importance_samples, chunk_size):
        """log (1/S) sum_s exp(w_s) per example, in one compiled loop.

        `log_weights(x, k)` gives `(k, batch)` log weights of k fresh
        samples; `chunked_log_mean_exp` draws the S samples in chunks of
        `chunk_size`. Returns a `(batch,)` array.
        """
        fn = self.compiled_function(
            f"{name}_{chunk_size}",
            lambda x, num: chunked_log_mean_exp(
                lambda k: log_weights(x, k), num, chunk_size, ops.shape(x)[0]
            ),
        )
        return ops.convert_to_numpy(fn(x, np.int32(num_importance_samples)))

    def sync_state(self):
        """Nothing to do: TensorFlow's steps update the variables in place."""
