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

The subclass implements `build`, `compute_terms` (the per-example terms of a
batch), `log_importance_weights` and the graph hooks
`encode_tensors`/`decode_tensors`; the base class gives it `compute_loss` (the
batch mean of the terms' "loss", the one place to weight examples),
`fit` (XLA, non-finite guard, KL warm-up), `log_likelihood`, the eager
`encode`/`decode`/`reconstruct`/`sample`, `serving_signatures()` for
`keras_vae.export.export_for_serving` and `latent_layers()` for
`keras_vae.diagnostics.elbo_surgery`.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import ops  # noqa: E402

import keras_vae  # noqa: E402
from keras_vae.losses import log_normal  # noqa: E402


@keras.saving.register_keras_serializable(package="custom_model")
class IWAE(keras_vae.models.LatentVariableModel):
    """An IWAE for flat binary vectors, on the `LatentVariableModel` contract.

    ```none
    log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x),   z_i ~ q(z | x)
    L_k     = log (1/k) sum_i w_i
    ```
    """

    def __init__(
        self,
        latent_dim=8,
        hidden_units=(128, 128),
        num_importance_samples=10,
        beta=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            metric_names=("reconstruction", "kl"),
            objective="iwae",
            beta=beta,
            seed=seed,
            **kwargs,
        )
        self.latent_dim = latent_dim
        self.hidden_units = tuple(hidden_units)
        self.num_importance_samples = num_importance_samples
        GatedDense = keras_vae.layers.GatedDense
        self.encoder = keras.Sequential([GatedDense(u) for u in self.hidden_units])
        self.posterior = keras_vae.layers.GaussianParameters(latent_dim)
        self.likelihood = keras_vae.likelihoods.Bernoulli()
        self.prior = keras_vae.priors.StandardNormal(latent_dim=latent_dim)
        self.decoder = None
        self.data_shape = None

    def build(self, input_shape):
        # Everything is created from the data shape (batch, data_dim).
        self.data_shape = tuple(input_shape[1:])
        GatedDense = keras_vae.layers.GatedDense
        self.decoder = keras.Sequential(
            [GatedDense(u) for u in reversed(self.hidden_units)]
            + [keras.layers.Dense(self.data_shape[-1])]
        )
        self.encoder.build(input_shape)
        self.posterior.build(self.encoder.compute_output_shape(input_shape))
        self.decoder.build((None, self.latent_dim))
        self.prior.build((None, self.latent_dim))
        self.built = True

    # The graph hooks: q(z | x) and the mean of p(x | z).
    def encode_tensors(self, x):
        return self.posterior(self.encoder(x))

    def decode_tensors(self, z):
        return self.likelihood.mean(self._logits(z))

    def _logits(self, z, training=False):
        """Decoder logits for z of shape `(..., latent_dim)`."""
        lead = tuple(ops.shape(z)[:-1])
        flat = self.decoder(ops.reshape(z, (-1, self.latent_dim)), training=training)
        return ops.reshape(flat, lead + self.data_shape)

    def _terms(self, x, k, training=False):
        """log p(x | z) and log q(z | x) - log p(z) of k samples, `(k, batch)` each."""
        loc, scale = self.posterior(self.encoder(x, training=training))
        z = self.reparameterize(loc, scale, k)  # (k, batch, latent): sample axis first
        rec = self.likelihood.log_prob(x, self._logits(z, training))
        kl = log_normal(z, loc, scale) - self.prior.log_prob(z)
        return rec, kl

    def compute_terms(self, x, training=False):
        # Per example, `(batch,)`: the base class's `compute_loss` takes the
        # batch mean of "loss", the metrics the batch mean of every term.
        rec, kl = self._terms(x, self.num_importance_samples, training)
        objective, bound = self.objective_terms(rec, kl)  # beta-weighted, true bound
        return {
            "loss": -objective,
            "iwae_bound": bound,
            "reconstruction": ops.mean(rec, axis=0),  # averaged over the k samples
            "kl": ops.mean(kl, axis=0),
        }

    def log_importance_weights(self, x, num_importance_samples):
        rec, kl = self._terms(x, num_importance_samples)
        return rec - kl

    def call(self, x, training=False):
        # Deterministic, like the library's models: the mean of p(x | z) at
        # the posterior mean z = E_q[z], what `predict` and `reconstruct` give.
        loc, _ = self.posterior(self.encoder(x, training=training))
        return self.likelihood.mean(self._logits(loc, training))

    def get_config(self):
        # The base config holds the base arguments this class takes from its
        # caller (`beta`, `seed`), not those it fixes itself (`objective`,
        # `metric_names`), so `keras.models.load_model`, `clone_model` and
        # `ModelCheckpoint` files rebuild it with `IWAE(**config)`.
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "hidden_units": list(self.hidden_units),
            "num_importance_samples": self.num_importance_samples,
        }


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
