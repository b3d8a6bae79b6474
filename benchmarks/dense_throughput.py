"""GFLOP/s of the VAE decoder's widest layer on this machine, per backend.

The 300 -> 784 dense layer of the gated MLP decoder on a (4200, 300) batch
(42 importance samples of 100 images, the log-likelihood's chunk), alone and
followed by `keras.ops.softplus` or by keras_vae's Bernoulli log-likelihood
of binary data (one softplus per pixel, `likelihoods.Bernoulli`), 20 times
in one compiled function; the best of 5 calls. On TensorFlow also without XLA (oneDNN's
matmul). What bounds a training step and the importance-sampled
log-likelihood on CPU (RESULTS §11.11).

    KERAS_BACKEND=jax python benchmarks/dense_throughput.py
    KERAS_BACKEND=tensorflow python benchmarks/dense_throughput.py
"""

import time

import keras
import numpy as np
from keras import ops

from keras_vae.likelihoods import Bernoulli

ROWS, IN, OUT, REPEATS = 4200, 300, 784, 20
BERNOULLI = Bernoulli()  # built once: it owns a seed generator (a variable)


def loop(h, w, x, after):
    total = ops.convert_to_tensor(0.0)
    for i in range(REPEATS):
        logits = ops.matmul(h + i * 1e-6, w)
        if after == "softplus":
            logits = ops.softplus(logits)
        elif after == "bernoulli":
            logits = BERNOULLI.log_prob(x, logits)
        total = total + ops.sum(logits)
    return total


def compiled(fn, xla):
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=xla)


def main():
    rng = np.random.default_rng(0)
    h = ops.convert_to_tensor(rng.normal(size=(ROWS, IN)).astype("float32"))
    w = ops.convert_to_tensor(rng.normal(size=(IN, OUT)).astype("float32"))
    x = ops.convert_to_tensor((rng.uniform(size=(ROWS, OUT)) < 0.2).astype("float32"))
    flops = REPEATS * 2 * ROWS * IN * OUT
    modes = [True] if keras.backend.backend() == "jax" else [True, False]
    for xla in modes:
        for after in ("none", "softplus", "bernoulli"):
            fn = compiled(lambda h, w, x, a=after: loop(h, w, x, a), xla)
            ops.convert_to_numpy(fn(h, w, x))  # compiles
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                ops.convert_to_numpy(fn(h, w, x))
                best = min(best, time.perf_counter() - start)
            label = f"{keras.backend.backend()}, {'XLA' if xla else 'no XLA'}, dense"
            label += {"none": "", "softplus": " + softplus", "bernoulli": " + Bernoulli"}[after]
            print(f"{label}: {flops / best / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
