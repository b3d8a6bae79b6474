"""chunked_log_mean_exp: the importance-sampling estimator as one compiled loop."""

import math

import keras
from keras import ops


def chunked_log_mean_exp(log_weights, num_importance_samples, chunk_size, batch, variables=None):
    """log (1/S) sum_s exp(log_weights_s) over S samples drawn in chunks.

    ```none
    log (1/S) sum_{s=1..S} w_s,   S = num_importance_samples,  in ceil(S / chunk_size) steps
    total_0 = -inf,   total_{i+1} = logsumexp(total_i, logsumexp_{s in chunk i, s < S} log w_s)
    result  = total_{ceil(S / chunk_size)} - log S
    ```

    A `keras.ops.while_loop` (a `tf.while_loop`, a `jax.lax.while_loop`):
    each step computes a full chunk of `(chunk_size, batch)` log weights (a
    static shape), masks the samples past S to -inf, so the last chunk
    counts exactly `S - (ceil(S / chunk_size) - 1) chunk_size` samples, and
    folds the chunk into a running log-sum-exp (float32, stable: every
    log-sum-exp subtracts its maximum), so the memory is that of one chunk
    whatever S is. A chunk is two calls, `log_weights(chunk_size -
    chunk_size // 2)` and `log_weights(chunk_size // 2)`: two independent
    chains of ops, which XLA:CPU's thunk executor runs side by side, one
    half's element-wise fusions beside the other half's matmuls, where one
    chain left a core waiting (up to 15 % more samples/s on two cores in
    paired probes, `benchmarks/RESULTS.md` §11.3). `num_importance_samples`
    may be a tensor (a serving input, or a traced argument so that one
    compiled function serves every S). The one estimator of
    `LatentVariableModel.log_likelihood` on every backend and of the
    exported `log_likelihood` signature.

    A loop body is traced once, so a variable it assigns (a
    `keras.random.SeedGenerator`'s state) must be carried through the loop
    where variables are not mutable in place (JAX): pass them as
    `variables`. Each step then reads them, inside a `keras.StatelessScope`,
    at their values after the previous step, and they are assigned their
    values after the last step, so every chunk draws fresh samples and the
    random state advances as it does on TensorFlow, where the loop assigns
    the variables in place (`variables=None`).

    Args:
        log_weights: Callable `k -> (k, batch)` log importance weights of
            k fresh samples.
        num_importance_samples: Positive integer S (int or int32 tensor).
        chunk_size: Positive Python integer, samples per step.
        batch: The batch size (int or scalar tensor).
        variables: Optional list of every variable `log_weights` reads or
            assigns (a model's trainable and non-trainable variables),
            carried through the loop as its state. `None`: the variables
            are read and assigned in place.

    Returns:
        A float32 tensor `(batch,)`.
    """
    num = ops.cast(num_importance_samples, "int32")
    num_chunks = (num + chunk_size - 1) // chunk_size
    offsets = ops.arange(chunk_size, dtype="int32")[:, None]  # (chunk_size, 1)
    halves = [k for k in (chunk_size - chunk_size // 2, chunk_size // 2) if k > 0]

    def fold(i, total):
        log_w = ops.concatenate([ops.cast(log_weights(k), "float32") for k in halves], axis=0)
        keep = i * chunk_size + offsets < num
        log_w = ops.where(keep, log_w, -math.inf)
        part = ops.logsumexp(log_w, axis=0)
        return ops.logsumexp(ops.stack([total, part]), axis=0)

    start = (ops.convert_to_tensor(0, "int32"), ops.full((batch,), -math.inf, "float32"))
    if variables is None:
        _, total = ops.while_loop(
            lambda i, total: i < num_chunks, lambda i, total: (i + 1, fold(i, total)), start
        )
    else:
        variables = list(variables)

        def body(i, total, values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
                total = fold(i, total)
            return i + 1, total, [scope.get_current_value(v) for v in variables]

        _, total, values = ops.while_loop(
            lambda i, total, values: i < num_chunks,
            body,
            start + ([v.value for v in variables],),
        )
        for variable, value in zip(variables, values):
            variable.assign(value)
    return total - ops.log(ops.cast(num, "float32"))
