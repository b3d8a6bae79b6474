"""chunked_log_mean_exp: the importance-sampling estimator as a TensorFlow loop."""

import math

import tensorflow as tf


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
    `LatentVariableModel.log_likelihood` on TensorFlow and of the exported
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
