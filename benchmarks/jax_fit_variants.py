"""keras_vae's JAX `fit`, with and without its two JAX-specific choices.

The default VAE (gated MLP 784-300-300-40, dynamic binarization, batch 100,
Adam 5e-4, the library's compile defaults: XLA, 25 steps per execution)
trained one epoch at a time on uniform random images, four variants in one
process, interleaved (order reversed every other round):

- `per_step_tfdata`: Keras's JAX train function (one jitted call per batch)
  fed by the `tf.data` pipeline (keras_vae's JAX default before §11.11);
- `per_step_numpy`: the same calls, NumPy batches (`ArrayBatches`);
- `fused_tfdata`: one `lax.scan` per execution, `tf.data` batches;
- `fused_numpy`: one `lax.scan` per execution, NumPy batches (the default).

Prints the fastest epoch of each variant (examples/s) and cpu/wall per round.

    KERAS_BACKEND=jax python benchmarks/jax_fit_variants.py --rounds 4
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vae  # noqa: E402
from keras_vae.trainers.guarded_steps import GuardedSteps  # noqa: E402
from keras_vae.utils import input_pipeline  # noqa: E402
from keras_vae.utils.array_batches import ArrayBatches  # noqa: E402


class PerStepVAE(keras_vae.models.VAE):
    """The VAE with Keras's own JAX train function (no fused executions)."""

    def make_train_function(self, force=False):
        return GuardedSteps.make_train_function(self, force)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--examples", type=int, default=20000)
    args = p.parse_args()
    if keras.backend.backend() != "jax":
        raise SystemExit("Run with KERAS_BACKEND=jax.")

    x = np.random.default_rng(0).uniform(size=(args.examples, 784)).astype("float32")
    variants = {
        "per_step_tfdata": (PerStepVAE, True),
        "per_step_numpy": (PerStepVAE, False),
        "fused_tfdata": (keras_vae.models.VAE, True),
        "fused_numpy": (keras_vae.models.VAE, False),
    }
    models = {}

    def epoch(name):
        if variants[name][1]:
            # The `tf.data` pipeline `array_dataset` builds off JAX.
            backend = keras.backend.backend
            keras.backend.backend = lambda: "tensorflow"
            try:
                batches = input_pipeline.array_dataset(x, 100, shuffle=True)
            finally:
                keras.backend.backend = backend
        else:
            batches = ArrayBatches(x, 100, shuffle=True)
        start, cpu = time.perf_counter(), time.process_time()
        models[name].fit(batches, epochs=1, verbose=0)
        return time.perf_counter() - start, time.process_time() - cpu

    for name, (cls, _) in variants.items():
        model = cls(latent_dim=40, dynamic_binarization=True, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(5e-4))
        models[name] = model
        epoch(name)  # compiles
    times = {name: [] for name in variants}
    for r in range(args.rounds):
        for name in list(variants)[:: 1 if r % 2 == 0 else -1]:
            times[name].append(epoch(name))
    for name, runs in times.items():
        wall = min(w for w, _ in runs)
        ratios = ", ".join(f"{c / w:.2f}" for w, c in runs)
        print(f"{name}: {len(x) / wall:.0f} examples/s (best of {len(runs)}), cpu/wall {ratios}")


if __name__ == "__main__":
    main()
