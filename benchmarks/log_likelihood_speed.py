"""Time of the importance-sampled test log-likelihood at the paper's size.

Burda et al. (2016) and Tomczak & Welling (2018) score with S = 5000
importance samples on all 10,000 MNIST test images. This times exactly that
call, as a user makes it:

    keras_vae.diagnostics.log_likelihood(model, x_test, 5000, batch_size=B)

on the gated MLP 784-300-300-40 with a standard normal prior or a VampPrior
(K = 500). The time does not depend on the weights, so the model is not
trained. Reported: wall seconds, cpu/wall, and the achieved GFLOP/s of the
dense layers (2 * multiply-adds of the decoder per sample and of the
encoder per example; element-wise work not counted).

    python benchmarks/log_likelihood_speed.py --prior standard --mnist-dir $MNIST_DIR
    python benchmarks/log_likelihood_speed.py --prior vamp --examples 2000  # a fifth
    KERAS_BACKEND=jax python benchmarks/log_likelihood_speed.py --prior standard

On either backend a batch is one compiled call: a loop over the chunks of
S with a running log-sum-exp (`keras_vae.trainers.chunked_log_mean_exp`).
"""

import argparse
import json
import time


def dense_flops(model):
    """Multiply-add FLOPs of the dense kernels of `model`'s encoder and decoder."""

    def flops(network):
        return sum(
            2 * int(w.shape[0]) * int(w.shape[1]) for w in network.weights if len(w.shape) == 2
        )

    return flops(model.encoder), flops(model.decoder)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", choices=("standard", "vamp"), default="standard")
    p.add_argument("--num-samples", type=int, default=5000)
    p.add_argument("--examples", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--mnist-dir", default=None, help="MNIST IDX files (or TFDS_DATA_DIR)")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    import keras

    import keras_vae

    x_test = keras_vae.datasets.load(
        "mnist",
        "test",
        binarization="static",
        data_dir=args.mnist_dir,
        flatten=True,
        as_numpy=True,
    )[: args.examples]
    kwargs = {"prior": keras_vae.priors.VampPrior(500)} if args.prior == "vamp" else {}
    model = keras_vae.models.VAE(latent_dim=40, hidden_units=(300, 300), seed=0, **kwargs)
    model.build((None, 784))
    # The model's own default chunk (see `LatentVariableModel.log_likelihood`),
    # made explicit so the compiling call below uses the same function.
    chunk = args.chunk_size or min(
        args.num_samples, max(1, model.likelihood_chunk_floats // (args.batch_size * 784))
    )
    model.log_likelihood(x_test[: args.batch_size], chunk, chunk_size=chunk)  # compiles
    start, cpu = time.perf_counter(), time.process_time()
    result = keras_vae.diagnostics.log_likelihood(
        model,
        x_test,
        args.num_samples,
        batch_size=args.batch_size,
        chunk_size=chunk,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    encoder, decoder = dense_flops(model)
    flop = len(x_test) * (encoder + args.num_samples * decoder)
    report = {
        **vars(args),
        "backend": keras.backend.backend(),
        "chunk_size": chunk,
        "wall_s": wall,
        # CPU seconds too: on a loaded machine they vary less than wall time.
        "cpu_s": cpu,
        "cpu_wall": cpu / wall,
        "gflop_per_s": flop / wall / 1e9,
        "minutes_for_10k_x_5000": wall * (1e4 / len(x_test)) * (5000 / args.num_samples) / 60,
        "nll": result.nll,
    }
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
