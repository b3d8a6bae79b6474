"""Your own model on keras_vae's public contract: an IWAE.

    python examples/custom_model/train.py [--export-dir DIR]

`keras_vae.models.VAE` is one ready model; this example writes an importance
weighted autoencoder (Burda et al., 2016) as a subclass of
`keras_vae.models.LatentVariableModel`, using only public API:

    encoder    GatedDense, GatedDense, GaussianParameters -> loc, scale of q(z|x)
    sampling   self.reparameterize(loc, scale, k)  -> z of shape (k, batch, latent)
    decoder    GatedDense, GatedDense, Dense       -> Bernoulli logits of p(x|z)
    densities  Bernoulli().log_prob, StandardNormal().log_prob, losses.log_normal
    objective  self.objective_terms(rec, kl): the IWAE bound over the k samples

The model, `IWAE`, lives in `iwae.py` beside this script (importable as
`examples.custom_model.iwae`). It implements `build`, `compute_terms` (the
per-example terms of a batch), `log_importance_weights` and the graph hooks
`encode_tensors`/`decode_tensors`; the base class gives it `compute_loss` (the
batch mean of the terms' "loss", the one place to weight examples),
`fit` (XLA, non-finite guard, KL warm-up), `log_likelihood`, the eager
`encode`/`decode`/`reconstruct`/`sample`, `serving_signatures()` for
`keras_vae.export.export_for_serving` and `latent_layers()` for
`keras_vae.diagnostics.elbo_surgery`.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_vae  # noqa: E402

# The model is the module `examples.custom_model.iwae` of the repository root
# (put first on the path once keras_vae is imported), one module whichever
# way this script is run or imported: a `.keras` file's class is that one.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.custom_model.iwae import IWAE  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an IWAE written on keras_vae's LatentVariableModel."
    )
    parser.add_argument("--epochs", type=int, default=50, help="(50)")
    parser.add_argument("-k", type=int, default=10, help="samples per example (10)")
    parser.add_argument("--seed", type=int, default=0, help="(0)")
    parser.add_argument("--export-dir", help="also export it for TF Serving here")
    parser.add_argument("--quiet", action="store_true", help="the bound line only")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    # 8x8 digits as vectors of 64 pixels: the training set is binarized afresh
    # every epoch ("auto" = dynamic), the test set once with a fixed seed.
    train = keras_vae.datasets.load("digits", "train", batch_size=100, flatten=True)
    test = keras_vae.datasets.load("digits", "test", batch_size=300, flatten=True)

    model = IWAE(num_importance_samples=args.k, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    # `shuffle=False`: keras_vae.datasets.load already reshuffles every epoch.
    model.fit(train, epochs=args.epochs, shuffle=False, verbose=0 if args.quiet else 2)

    bound = model.evaluate(test, verbose=0, return_dict=True)["iwae_bound"]
    print(
        f"test IWAE bound L_{args.k}: {bound:.2f} nats "
        f"(a lower bound on log p(x), mean over 300 test images)"
    )
    if args.quiet:
        return
    x_test = keras.ops.convert_to_numpy(next(iter(test)))
    surgery = keras_vae.diagnostics.elbo_surgery(model, x_test, seed=args.seed)
    print(
        f"ELBO surgery: avg KL {surgery.avg_kl:.2f} = I[i, z] "
        f"{surgery.mutual_information:.2f} (<= log N = {surgery.log_n:.2f}) "
        f"+ marginal KL {surgery.marginal_kl:.2f} nats"
    )
    if args.export_dir:
        path = keras_vae.export.export_for_serving(model, args.export_dir)
        print(
            f"exported for TF Serving: {path} (signatures "
            f"{', '.join(keras_vae.export.available_signatures(model))})"
        )


if __name__ == "__main__":
    main()
