"""Time `keras_vae.diagnostics.elbo_surgery` on the 50,000 MNIST training images.

A 20-d `keras_vae.models.VAE` (gated MLP 784-300-300-20, standard normal
prior) is trained for `--train-epochs` on `binarized_mnist` (the cost of the
surgery does not depend on training: N encoder passes and an N x N
log-sum-exp), then `elbo_surgery` runs over all 50,000 training images
`--rounds` times in this process; the first round includes XLA compilation.
Target (issue 7): <= 3 minutes on 2 CPU cores, encoding included.

    TFDS_DATA_DIR=../shared/tfds python benchmarks/elbo_surgery.py --rounds 3
"""

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_vae  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--latent-dim", type=int, default=20)
    p.add_argument("--train-epochs", type=int, default=1, help="0 = untrained")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=2048)
    p.add_argument("--max-examples", type=int, help="first N images (all 50,000)")
    p.add_argument("--data-dir", help="prepared TFDS data dir (TFDS_DATA_DIR)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()

    x = keras_vae.datasets.load(
        "binarized_mnist", "train", data_dir=args.data_dir, download=False,
        as_numpy=True,
    )[: args.max_examples]  # fmt: skip
    keras.utils.set_random_seed(0)
    model = keras_vae.models.VAE(latent_dim=args.latent_dim, seed=0)
    model.compile(optimizer="adam", jit_compile=True, steps_per_execution=10)
    model.build((None,) + x.shape[1:])
    if args.train_epochs:
        model.fit(x, batch_size=100, epochs=args.train_epochs, verbose=2)
    seconds = []
    for i in range(args.rounds):
        start = time.perf_counter()
        result = keras_vae.diagnostics.elbo_surgery(
            model,
            x,
            num_samples=args.num_samples,
            chunk_size=args.chunk_size,
            seed=i,
        )
        seconds.append(time.perf_counter() - start)
        print(
            f"round {i + 1}: {seconds[-1]:.1f} s; N = {result.num_examples}, "
            f"avg KL {result.avg_kl:.2f} = MI {result.mutual_information:.2f} "
            f"(log N {math.log(len(x)):.2f}) + marginal KL {result.marginal_kl:.2f}",
            flush=True,
        )
    report = {
        "num_examples": len(x),
        "latent_dim": args.latent_dim,
        "num_samples": args.num_samples,
        "chunk_size": args.chunk_size,
        "train_epochs": args.train_epochs,
        "seconds": seconds,
        "result": result._asdict(),
    }
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
