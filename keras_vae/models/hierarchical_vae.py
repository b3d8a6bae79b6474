"""HierarchicalVAE: the two-stochastic-layer VAE of the VampPrior paper."""

import keras
from keras import ops

from keras_vae import likelihoods as likelihoods_lib
from keras_vae import priors as priors_lib
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.losses.gaussian import kl_normal
from keras_vae.losses.gaussian import log_normal
from keras_vae.models import hierarchical_networks
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.models.layered_latents import LayeredLatents
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_shape

ARCHITECTURES = {
    "gated_mlp": hierarchical_networks.gated_mlp_hvae_networks,
    "gated_conv": hierarchical_networks.gated_conv_hvae_networks,
}
NETWORKS = ("encoder_z2", "encoder_z1_x", "encoder_z1_joint", "prior_z1", "decoder")


@keras.saving.register_keras_serializable(package="keras_vae")
class HierarchicalVAE(LayeredLatents, LatentVariableModel):
    """Two-level VAE q(z2|x) q(z1|x,z2), p(x|z1,z2) p(z1|z2) p(z2).

    ```none
    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2)        diagonal Gaussians
    p(x, z1, z2)  = p(x | z1, z2) p(z1 | z2) p(z2)  p(z1|z2) Gaussian, p(z2) = prior
    log w = log p(x|z1,z2) + log p(z1|z2) + log p(z2) - log q(z1|x,z2) - log q(z2|x)
    ELBO  = E_q[log p(x|z1,z2)] - KL_z1 - KL_z2
      KL_z1 = E_q(z2|x) KL(q(z1|x,z2) || p(z1|z2))   (closed form given z2)
      KL_z2 = KL(q(z2|x) || p(z2))                   (closed form or Monte Carlo)
    IWAE_k = log (1/k) sum_i w_i
    ```

    The prior p(z2) is any `keras_vae.priors.Prior`; with a `VampPrior` it
    is built from q(z2 | x) at the pseudo-inputs, as in the paper. Training
    scales both KL terms by the variable `beta` (`KLWarmUp`); the reported
    `elbo` / `iwae_bound` always uses beta = 1. `kl_1` (z1) and `kl_2` (z2) are
    reported per layer.

    `predict(x)` (and `model(x)`) is deterministic: the mean of
    p(x | z1, z2) at the posterior means (z2 = E[z2 | x], z1 = E[z1 | x, z2]),
    equal to `reconstruct(x)`. `evaluate` reports the training objective, a
    Monte Carlo estimate with the model's seed generator: two calls differ.

    The five networks (see `gated_mlp_hvae_networks`) default to the paper's
    gated MLP (`architecture="gated_mlp"`, 300 units) or to its ConvHVAE
    (`"gated_conv"`); any of them may be replaced by a Keras layer with the
    same inputs and outputs. The x branch of q(z1 | x, z2) runs once per
    example, not once per sample of z2.

    Args:
        latent_dims: Sizes `(z1_dim, z2_dim)` of the latents z1 and z2,
            bottom first. Defaults to `(40, 40)`.
        prior: Prior p(z2): a `keras_vae.priors.Prior`, `None` or
            `"standard_normal"`.
        likelihood: `"bernoulli"`, `"gaussian"` or a `Likelihood`.
            `"gaussian"` has a FIXED sigma = 1 (a squared error); for a
            learned scale pass
            `keras_vae.likelihoods.Gaussian(learn_scale=True)`.
        objective: `"elbo"` or `"iwae"`.
        num_importance_samples: Samples k of (z1, z2) per example in
            training (the k of the IWAE bound).
        beta: Initial KL weight (a variable; see `KLWarmUp`).
        architecture: `"gated_mlp"` or `"gated_conv"` (image data).
        hidden_units: Width `(u,)` (or an int) of the default networks'
            hidden layers. Defaults to `(300,)`.
        encoder_z2: Optional Keras layer replacing the default network of
            q(z2 | x) (see `gated_mlp_hvae_networks` for all five).
        encoder_z1_x: Optional layer replacing the x branch of q(z1 | x, z2).
        encoder_z1_joint: Optional layer replacing the `[h_x, z2]` head of
            q(z1 | x, z2).
        prior_z1: Optional layer replacing the network of p(z1 | z2).
        decoder: Optional layer replacing the network of p(x | z1, z2).
        analytic_kl: Use closed-form KL terms in the ELBO where they exist.
        min_log_var: Lower clamp of every Gaussian log-variance (-6).
        max_log_var: Upper clamp of every Gaussian log-variance (2).
        dynamic_binarization: Binarize every training batch, x ~ Bernoulli(x).
            Only with a likelihood of binary data (`"bernoulli"`).
        seed: Optional integer seed.
        **kwargs: `keras.Model` keyword arguments.

    Call arguments:
        x: A batch of data.
        training: Whether the networks run in training mode. Returns the
            mean of p(x | z1, z2) at the posterior means (no sampling): with
            `training=False`, `reconstruct(x)` and what `predict` returns.

    Example:

    >>> hvae = keras_vae.models.HierarchicalVAE(  # paper: defaults, VampPrior(500)
    ...     latent_dims=(4, 4), hidden_units=(32,),
    ...     prior=keras_vae.priors.VampPrior(50), seed=0)
    >>> hvae.compile(optimizer=keras.optimizers.Adam(5e-4))
    >>> history = hvae.fit(x_train, epochs=1, batch_size=100, verbose=0,
    ...                    callbacks=[keras_vae.callbacks.KLWarmUp(100)])
    >>> sorted(key for key in history.history if key.startswith("kl"))
    ['kl', 'kl_1', 'kl_2']
    >>> log_px = hvae.log_likelihood(x_test[:10], num_importance_samples=100)
    >>> log_px.shape
    (10,)

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """

    # The decoder reads both layers: p(x | z1, z2).
    decoded_layers = 2

    def __init__(
        self,
        latent_dims=(40, 40),
        prior=None,
        likelihood="bernoulli",
        objective="elbo",
        num_importance_samples=1,
        beta=1.0,
        architecture="gated_mlp",
        hidden_units=(300,),
        encoder_z2=None,
        encoder_z1_x=None,
        encoder_z1_joint=None,
        prior_z1=None,
        decoder=None,
        analytic_kl=True,
        min_log_var=-6.0,
        max_log_var=2.0,
        dynamic_binarization=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            metric_names=("reconstruction", "kl", "kl_1", "kl_2"),
            objective=objective,
            beta=beta,
            dynamic_binarization=dynamic_binarization,
            seed=seed,
            **kwargs,
        )
        if isinstance(latent_dims, int) and not isinstance(latent_dims, bool):
            latent_dims = (latent_dims, latent_dims)
        self.latent_dims = check_shape(latent_dims, "latent_dims")
        if len(self.latent_dims) != 2:
            raise ValueError(
                "Expected `latent_dims` of two sizes (z1_dim, z2_dim), bottom "
                f"first. Received: latent_dims={latent_dims!r}"
            )
        self.num_importance_samples = check_positive_int(
            num_importance_samples, "num_importance_samples"
        )
        self.architecture = check_one_of(architecture, "architecture", tuple(ARCHITECTURES))
        self.hidden_units = (hierarchical_networks.check_single_width(hidden_units),)
        self.analytic_kl = bool(analytic_kl)
        self.min_log_var = float(min_log_var)
        self.max_log_var = float(max_log_var)
        given = dict(
            encoder_z2=encoder_z2,
            encoder_z1_x=encoder_z1_x,
            encoder_z1_joint=encoder_z1_joint,
            prior_z1=prior_z1,
            decoder=decoder,
        )
        self._custom_networks = tuple(k for k, v in given.items() if v is not None)
        for name, net in given.items():
            setattr(self, name, net)
        clamp = dict(min_log_var=min_log_var, max_log_var=max_log_var)
        # With a seed, default components start from its streams.
        with self.seeded_scope("components"):
            self.prior = self.adopt_component(priors_lib.get(prior), "prior")
            self.likelihood = self.adopt_component(likelihoods_lib.get(likelihood), "likelihood")
            self.check_binarization()
            self.q_z2_head = GaussianParameters(self.latent_dims[1], name="q_z2", **clamp)
            self.q_z1_head = GaussianParameters(self.latent_dims[0], name="q_z1", **clamp)
            self.p_z1_head = GaussianParameters(self.latent_dims[0], name="p_z1", **clamp)
        self.data_shape = None
        if architecture == "gated_conv":
            # 64-channel gated convolutions at full resolution hold ~500x the
            # decoder output (0.8 GB per 1000 MNIST samples): keep chunks ~1 GB.
            self.likelihood_chunk_floats = 2**20

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        self.data_shape = self.check_data_shape(input_shape)
        missing = [n for n in NETWORKS if getattr(self, n) is None]
        if missing:
            with self.seeded_scope("networks"):
                nets = ARCHITECTURES[self.architecture](
                    self.data_shape, self.latent_dims, self.hidden_units
                )
            for name in missing:
                setattr(self, name, nets[name])
        batch = (None,) + self.data_shape
        h_z2 = self._features(self.encoder_z2, batch, "encoder_z2")
        h_x = self._features(self.encoder_z1_x, batch, "encoder_z1_x")
        z1, z2 = (None, self.latent_dims[0]), (None, self.latent_dims[1])
        h_z1 = self._features(self.encoder_z1_joint, [h_x, z2], "encoder_z1_joint")
        h_p1 = self._features(self.prior_z1, z2, "prior_z1")
        for head, features in (
            (self.q_z2_head, h_z2),
            (self.q_z1_head, h_z1),
            (self.p_z1_head, h_p1),
        ):
            head.build(features)
        self.build_generative([z1, z2], z2, self._q_z2)
        self.built = True

    @staticmethod
    def _features(net, input_shape, name):
        if not net.built:
            net.build(input_shape)
        shape = tuple(net.compute_output_shape(input_shape))
        if len(shape) != 2:
            raise ValueError(
                f"Expected `{name}` to output features of shape (batch, "
                f"features). Received: output shape {shape}"
            )
        return shape

    # -------------------------------------------------------------- internals
    def _q_z2(self, x, training=False):
        return self.q_z2_head(self.encoder_z2(x, training=training))

    def _q_z1(self, h_x, z2, training=False):
        """q(z1 | x, z2) for z2 of shape (k, batch, z2_dim); h_x is per x."""
        lead = ops.shape(z2)[:-1]
        h_x = ops.broadcast_to(ops.expand_dims(h_x, 0), tuple(lead) + (h_x.shape[-1],))
        h = self.encoder_z1_joint(
            [ops.reshape(h_x, (-1, h_x.shape[-1])), ops.reshape(z2, (-1, self.latent_dims[1]))],
            training=training,
        )
        loc, scale = self.q_z1_head(h)
        shape = tuple(lead) + (self.latent_dims[0],)
        return ops.reshape(loc, shape), ops.reshape(scale, shape)

    def _p_z1(self, z2, training=False):
        lead = ops.shape(z2)[:-1]
        loc, scale = self.p_z1_head(
            self.prior_z1(ops.reshape(z2, (-1, self.latent_dims[1])), training=training)
        )
        shape = tuple(lead) + (self.latent_dims[0],)
        return ops.reshape(loc, shape), ops.reshape(scale, shape)

    def decoder_params(self, z1, z2, training=False):
        lead = ops.shape(z1)[:-1]
        params = self.decoder(
            [
                ops.reshape(z1, (-1, self.latent_dims[0])),
                ops.reshape(z2, (-1, self.latent_dims[1])),
            ],
            training=training,
        )
        return ops.reshape(params, tuple(lead) + self.data_shape)

    def _forward(self, x, num_samples, training=False):
        """Samples and densities of k draws (z1, z2) ~ q, each `(k, batch)`."""
        loc2, scale2 = self._q_z2(x, training)
        z2 = self.reparameterize(loc2, scale2, num_samples)
        loc1, scale1 = self._q_z1(self.encoder_z1_x(x, training=training), z2, training)
        z1 = self.reparameterize(loc1, scale1)
        p_loc1, p_scale1 = self._p_z1(z2, training)
        return {
            "q_z2": (loc2, scale2),
            "q_z1": (loc1, scale1),
            "p_z1": (p_loc1, p_scale1),
            "rec": self.likelihood.log_prob(x, self.decoder_params(z1, z2, training)),
            "log_q_z1": log_normal(z1, loc1, scale1),
            "log_p_z1": log_normal(z1, p_loc1, p_scale1),
            "log_q_z2": log_normal(z2, loc2, scale2),
            "log_p_z2": self.prior.log_prob(z2),
        }

    def compute_terms(self, x, training=False):
        self.check_input(x)
        f = self._forward(x, self.num_importance_samples, training)
        kl_z1 = f["log_q_z1"] - f["log_p_z1"]
        kl_z2 = f["log_q_z2"] - f["log_p_z2"]
        if self.objective == "elbo" and self.analytic_kl:
            kl_z1 = kl_normal(f["q_z1"], f["p_z1"])
            if self.prior.has_analytic_kl:
                kl_z2 = self.prior.kl_divergence(*f["q_z2"])
        rec, kl = f["rec"], kl_z1 + kl_z2
        objective, bound = self.objective_terms(rec, kl)

        def per_example(term):
            # `(k, batch)` terms (or an analytic KL of q(z2 | x), `(batch,)`)
            # averaged over the k samples.
            return ops.mean(ops.broadcast_to(term, ops.shape(rec)), axis=0)

        return {
            "loss": -objective,
            self.bound_metric: bound,
            "reconstruction": per_example(rec),
            "kl": per_example(kl),
            "kl_1": per_example(kl_z1),
            "kl_2": per_example(kl_z2),
        }

    def log_importance_weights(self, x, num_importance_samples):
        f = self._forward(x, num_importance_samples)
        return f["rec"] + f["log_p_z1"] + f["log_p_z2"] - f["log_q_z1"] - f["log_q_z2"]

    # ------------------------------------------------------------- public API
    def call(self, x, training=False):
        self.check_input(x)
        loc2, _ = self._q_z2(x, training)
        h_x = self.encoder_z1_x(x, training=training)
        loc1, _ = self._q_z1(h_x, ops.expand_dims(loc2, 0), training)
        return self.likelihood.mean(self.decoder_params(loc1[0], loc2, training))

    def encode_tensors(self, x):
        """Posteriors `[(loc1, scale1), (loc2, scale2)]`, lower layer first;
        q(z1 | x, z2) is taken at z2 = E[z2 | x]."""
        loc2, scale2 = self._q_z2(x)
        loc1, scale1 = self._q_z1(self.encoder_z1_x(x), ops.expand_dims(loc2, 0))
        return [(loc1[0], scale1[0]), (loc2, scale2)]

    def decode_tensors(self, z1, z2):
        """Mean of p(x | z1, z2) for latents `(batch, z1_dim)`, `(batch, z2_dim)`."""
        return self.likelihood.mean(self.decoder_params(z1, z2))

    def sample_tensors(self, num_samples):
        """z2 ~ p(z2), z1 ~ p(z1 | z2): `[z1, z2]`."""
        z2 = self.prior.sample(num_samples)
        z1 = self.reparameterize(*self._p_z1(z2))
        return [z1, z2]

    def latent_layers(self, x):
        """z1 first: q(z1 | x, z2) and the conditional prior p(z1 | z2), both
        at z2 = E[z2 | x] (as in `encode`), as `(loc, scale, (p_loc,
        p_scale))`; then q(z2 | x) and the marginal prior p(z2). See
        `LatentVariableModel.latent_layers`."""
        (loc1, scale1), (loc2, scale2) = self.encode(x)
        p_loc1, p_scale1 = self._p_z1(loc2)
        return [(loc1, scale1, (p_loc1, p_scale1)), (loc2, scale2, self.prior)]

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "latent_dims": list(self.latent_dims),
            "prior": ser(self.prior),
            "likelihood": ser(self.likelihood),
            "num_importance_samples": self.num_importance_samples,
            "architecture": self.architecture,
            "hidden_units": list(self.hidden_units),
            "analytic_kl": self.analytic_kl,
            "min_log_var": self.min_log_var,
            "max_log_var": self.max_log_var,
            # Default networks are rebuilt from `architecture`, not stored.
            **{
                name: ser(getattr(self, name)) if name in self._custom_networks else None
                for name in NETWORKS
            },
        }
