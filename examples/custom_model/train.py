"""keras_vae's layers and losses inside your own `keras.Model`: an IWAE.

    python examples/custom_model/train.py

`keras_vae.models.VAE` is one way to use the library; this example builds an
importance weighted autoencoder (Burda et al., 2016) by hand from its parts:

    encoder    GatedDense, GatedDense, GaussianParameters -> loc, scale of q(z|x)
    sampling   GaussianSample(num_samples=k)    -> z of shape (k, batch, latent)
    decoder    GatedDense, GatedDense, Dense    -> Bernoulli logits of p(x|z)
    densities  Bernoulli().log_prob, StandardNormal().log_prob
    loss       IWAELoss: -log (1/k) sum_i w_i,  log w_i = log p(x, z_i) - log q(z_i|x)

The model's `call` returns the log importance weights and `compute_loss`
feeds them to `keras_vae.losses.IWAELoss`, so Keras's own `fit` and
`evaluate` train and score it, XLA-compiled.
"""

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import ops  # noqa: E402

import keras_vae  # noqa: E402


class IWAE(keras.Model):
    """An IWAE for flat binary vectors, assembled from keras_vae parts."""

    def __init__(
        self, data_dim, latent_dim=8, hidden_units=128, k=10, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        GatedDense = keras_vae.layers.GatedDense
        self.encoder = keras.Sequential(
            [GatedDense(hidden_units), GatedDense(hidden_units)]
        )
        self.posterior = keras_vae.layers.GaussianParameters(latent_dim)
        self.sample_z = keras_vae.layers.GaussianSample(num_samples=k, seed=seed)
        self.decoder = keras.Sequential(
            [
                GatedDense(hidden_units),
                GatedDense(hidden_units),
                keras.layers.Dense(data_dim),
            ]
        )
        self.likelihood = keras_vae.likelihoods.Bernoulli()
        self.prior = keras_vae.priors.StandardNormal()
        self.iwae_loss = keras_vae.losses.IWAELoss()

    def build(self, input_shape):
        # Create every sub-layer's weights from the data shape (batch, data_dim).
        self.encoder.build(input_shape)
        self.posterior.build(self.encoder.compute_output_shape(input_shape))
        self.decoder.build((None, None, self.latent_dim))  # z is (k, batch, latent)

    def call(self, x):
        """Log importance weights log p(x, z_i) - log q(z_i | x), shape (k, batch)."""
        loc, scale = self.posterior(self.encoder(x))  # (batch, latent) each
        z = self.sample_z(loc, scale)  # (k, batch, latent): sample axis first
        logits = self.decoder(z)  # (k, batch, data_dim)
        log_px_z = self.likelihood.log_prob(x, logits)  # (k, batch)
        log_pz = self.prior.log_prob(z)  # (k, batch)
        # log q(z | x) of the diagonal Gaussian posterior.
        log_qz_x = ops.sum(
            -0.5 * ops.square((z - loc) / scale)
            - ops.log(scale)
            - 0.5 * math.log(2 * math.pi),
            axis=-1,
        )
        return log_px_z + log_pz - log_qz_x

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        # Keras loss classes reduce over the leading (batch) axis, so IWAELoss
        # takes the log weights as (batch, k): move the sample axis last.
        return self.iwae_loss(None, ops.transpose(y_pred))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an IWAE built from keras_vae parts."
    )
    parser.add_argument("--epochs", type=int, default=50, help="(50)")
    parser.add_argument("-k", type=int, default=10, help="samples per example (10)")
    parser.add_argument("--seed", type=int, default=0, help="(0)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch log")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    # 8x8 digits as vectors of 64 pixels: the training set is binarized afresh
    # every epoch ("auto" = dynamic), the test set once with a fixed seed.
    train = keras_vae.datasets.load("digits", "train", batch_size=100, flatten=True)
    test = keras_vae.datasets.load("digits", "test", batch_size=300, flatten=True)

    model = IWAE(data_dim=64, k=args.k, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    # `shuffle=False`: keras_vae.datasets.load already reshuffles every epoch.
    model.fit(train, epochs=args.epochs, shuffle=False, verbose=0 if args.quiet else 2)

    bound = -model.evaluate(test, verbose=0, return_dict=True)["loss"]
    print(
        f"test IWAE bound L_{args.k}: {bound:.2f} nats "
        f"(a lower bound on log p(x), mean over 300 test images)"
    )


if __name__ == "__main__":
    main()
