"""Cost of keras_vae's random draws on the JAX backend, against the alternatives.

`keras_vae.utils.random` draws on JAX with `keras.random` (JAX's ThreeFry,
keyed by the `keras.random.SeedGenerator` state). This times, under
`jax.jit` on the draws one VAE step and one log-likelihood chunk make, that
generator and the ones XLA offers for the same two-word seed:

    keras.random         keras.random.uniform / normal (JAX's ThreeFry)
    xla_threefry         jax.lax.rng_bit_generator(RNG_THREE_FRY) bits
    xla_philox           jax.lax.rng_bit_generator(RNG_PHILOX) bits
    rbg                  jax.random with an "rbg" key (XLA's default generator)

Bits become uniforms as k / 2^24 with k = bits >> 8, and normals as
z = sqrt(2) erfinv(v) with v = (k + 1/2) / 2^23 - 1 (TensorFlow's path in
`keras_vae.utils.random`). The cases are interleaved over `--rounds`
rounds, so load from other jobs hits all alike; each figure is the minimum
over rounds of the per-call process CPU time and wall time.

    KERAS_BACKEND=jax python benchmarks/random_draws.py --rounds 30
"""

import argparse
import math
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402

SHAPES = {
    "uniform 100x784 (dynamic binarization)": (100, 784),
    "normal 21000x40 (42x500 IS-LL samples)": (42 * 500, 40),
}


def xla_bits(algorithm):
    def bits(seed, shape):
        # Words 0-1 of the 4-word state are the key, words 2-3 the counter.
        state = jnp.concatenate([seed, jnp.zeros((2,), "uint32")])
        return jax.lax.rng_bit_generator(state, shape, dtype="uint32", algorithm=algorithm)[1]

    return bits


def rbg_bits(seed, shape):
    key = jax.random.wrap_key_data(jnp.concatenate([seed, jnp.zeros((2,), "uint32")]), impl="rbg")
    return jax.random.bits(key, shape, dtype="uint32")


def uniform_from_bits(bits):
    return (bits >> 8).astype("float32") * 2.0**-24


def normal_from_bits(bits):
    v = (((bits >> 8).astype("int32") - (1 << 23)).astype("float32") + 0.5) * 2.0**-23
    return -math.sqrt(2.0) * jax.lax.erf_inv(-jnp.abs(v)) * jnp.sign(v)


GENERATORS = {
    "xla_threefry": xla_bits(jax.lax.RandomAlgorithm.RNG_THREE_FRY),
    "xla_philox": xla_bits(jax.lax.RandomAlgorithm.RNG_PHILOX),
    "rbg": rbg_bits,
}


def cases():
    out = {}
    for label, shape in SHAPES.items():
        is_normal = label.startswith("normal")
        draw = keras.random.normal if is_normal else keras.random.uniform
        out[(label, "keras.random")] = lambda s, draw=draw, shape=shape: draw(shape, seed=s)
        convert = normal_from_bits if is_normal else uniform_from_bits
        for name, bits in GENERATORS.items():
            out[(label, name)] = lambda s, b=bits, c=convert, shape=shape: c(b(s, shape))
    return {key: jax.jit(fn) for key, fn in out.items()}


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--calls", type=int, default=10, help="calls per case and round")
    args = p.parse_args()
    if keras.backend.backend() != "jax":
        p.error("run with KERAS_BACKEND=jax")
    fns = cases()
    seed = keras.random.SeedGenerator(0).next()
    for fn in fns.values():
        fn(seed).block_until_ready()
    best = {key: (math.inf, math.inf) for key in fns}
    for _ in range(args.rounds):
        for key, fn in fns.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.calls):
                fn(seed).block_until_ready()
            cpu = (time.process_time() - cpu) / args.calls
            wall = (time.perf_counter() - wall) / args.calls
            best[key] = (min(best[key][0], cpu), min(best[key][1], wall))
    for label in SHAPES:
        base = best[(label, "keras.random")][0]
        print(label)
        for (shape_label, name), (cpu, wall) in best.items():
            if shape_label == label:
                print(
                    f"  {name:13s} cpu {cpu * 1e3:7.3f} ms  wall {wall * 1e3:7.3f} ms  "
                    f"cpu vs keras.random {cpu / base:5.2f}x"
                )


if __name__ == "__main__":
    main()
