"""LadderVAE: the Ladder variational autoencoder of Sønderby et al. (2016)."""

import math

import keras
from keras import ops

from keras_vae import likelihoods as likelihoods_lib
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.layers.precision_weighted_merge import PrecisionWeightedMerge
from keras_vae.losses.gaussian import kl_normal
from keras_vae.losses.gaussian import log_normal
from keras_vae.models import ladder_networks
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.models.layered_latents import LayeredLatents
from keras_vae.priors.standard_normal import StandardNormal
from keras_vae.utils.validation import check_free_bits
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_shape
from keras_vae.utils.validation import check_widths

INFERENCE = ("ladder", "bottom_up")


@keras.saving.register_keras_serializable(package="keras_vae")
class LadderVAE(LayeredLatents, LatentVariableModel):
    """Ladder VAE: a deterministic bottom-up pass, a stochastic top-down pass.

    ```none
    d_0 = flatten(x),  d_i = MLP_i(d_{i-1}),  (mu_hat_i, s_hat_i) = head_i(d_i)
    p(z_L) = N(0, I)          p(z_i | z_{i+1}) = N(mu_p_i, s_p_i^2)(z_{i+1})
    q(z_L | x) = N(mu_hat_L, s_hat_L^2)
    q(z_i | .) = merge(N(mu_hat_i, s_hat_i^2), p(z_i | z_{i+1}))      i < L
      s_q^2 = 1 / (s_hat^-2 + s_p^-2),  mu_q = (mu_hat s_hat^-2 + mu_p s_p^-2) s_q^2
    log w = log p(x|z_1) + sum_{i<L} log p(z_i|z_{i+1}) + log p(z_L)
            - sum_i log q(z_i | .)
    ELBO  = E_q[log p(x|z_1)] - sum_i KL_i,
      KL_i = KL(q(z_i|.) || p(z_i|z_{i+1})) given the sampled z_{i+1}, i < L
      KL_L = KL(q(z_L|x) || N(0, I))
    free bits: loss = -E[log p(x|z_1)] + beta sum_i max(lambda, E_batch[KL_i])
    ```

    The top-down network of p(z_i | z_{i+1}) is shared by the generative model
    and the posterior (`PrecisionWeightedMerge`), as in the paper. Each
    deterministic block is the paper's MLP: two dense layers with batch
    normalization and a leaky ReLU (slope 0.1). The bottom-up block i has
    `hidden_units[i]` units; the top-down block from z_{i+1} to z_i has
    `hidden_units[i+1]` and the decoder from z_1 `hidden_units[1]` units
    (1-based), mirroring the bottom-up pass. Batch normalization uses batch
    statistics in training steps and its moving averages elsewhere
    (`evaluate`, `predict`, `encode`, `sample`, `log_likelihood`, export).

    `predict(x)` (and `model(x)`) is deterministic: the mean of p(x | z_1)
    with the inference pass at the posterior means, equal to
    `reconstruct(x)`. `evaluate` reports the training objective, a Monte
    Carlo estimate with the model's seed generator: two calls differ.

    Every Gaussian head is a `GaussianParameters` with its log-variance
    clamped to `[min_log_var, max_log_var]` (scales in [0.05, 7.4] by
    default): the upper bound is wider than the VAE's so that a bottom-up
    term can carry almost no information and q(z_i|.) fall back on the prior
    (an unused unit then costs ~1e-4 nats against a unit-variance prior);
    merged variances may fall below the lower bound, never to zero.

    `inference="bottom_up"` keeps the generative model and replaces the
    ladder by the paper's baseline "VAE" inference, a stochastic bottom-up
    chain q(z_1|x) q(z_2|z_1) ... q(z_L|z_{L-1}) (block i then reads z_{i-1},
    not d_{i-1}); with `batch_norm=False` as well it is the plain "VAE" of
    the paper's comparison.

    In the ELBO the KL terms are closed-form given the sampled z_{i+1}
    (bottom-up inference: only the top layer's, since there z_{i+1} is drawn
    after z_i); with `objective="iwae"` they are Monte Carlo (log q - log p) and the bound is
    the log-mean of the k weights. Training scales the KL terms by `beta`
    (`keras_vae.callbacks.KLWarmUp`, the paper's warm-up); the reported
    `elbo` / `iwae_bound`, `kl` and `kl_1` ... `kl_L` are always the true
    (unclamped, beta = 1) values.

    Args:
        latent_dims: Sizes of z_1 ... z_L, bottom first. Defaults to the
            paper's MNIST model `(64, 32, 16, 8, 4)`.
        hidden_units: Widths of the deterministic blocks d_1 ... d_L.
            Defaults to `(512, 256, 128, 64, 32)`.
        likelihood: `"bernoulli"`, `"gaussian"` or a `Likelihood`.
            `"gaussian"` has a FIXED sigma = 1 (a squared error); for a
            learned scale pass
            `keras_vae.likelihoods.Gaussian(learn_scale=True)`.
        objective: `"elbo"` or `"iwae"`.
        num_importance_samples: Samples k of (z_1, ..., z_L) per example in
            training (the k of the IWAE bound).
        beta: Initial KL weight (a variable; see `KLWarmUp`).
        free_bits: `None` or a non-negative float lambda, nats per latent
            layer (Kingma et al., 2016): each layer's batch-mean KL in the
            training loss is replaced by max(lambda, KL_i). ELBO only. In
            the per-example `"loss"` of `compute_terms`, a layer whose
            batch mean is below lambda contributes lambda to every example.
        inference: `"ladder"` (the default) or `"bottom_up"` (see above).
        batch_norm: Batch normalization in every deterministic block.
        min_log_var: Lower clamp of every head's log-variance (-6).
        max_log_var: Upper clamp of every head's log-variance (4).
        dynamic_binarization: Binarize every training batch, x ~ Bernoulli(x).
            Only with a likelihood of binary data (`"bernoulli"`).
        seed: Optional integer seed.
        **kwargs: `keras.Model` keyword arguments.

    Call arguments:
        x: A batch of data.
        training: Whether the networks run in training mode (batch
            statistics). Returns the mean of p(x | z_1) at the posterior
            means of the inference pass (no sampling): with
            `training=False`, `reconstruct(x)` and what `predict` returns.

    Example:

    >>> lvae = keras_vae.models.LadderVAE(  # the paper: the default 5 layers
    ...     latent_dims=(8, 4), hidden_units=(64, 32), free_bits=0.5, seed=0)
    >>> lvae.compile(optimizer=keras.optimizers.Adam(2e-3))
    >>> history = lvae.fit(x_train, epochs=1, batch_size=256, verbose=0,
    ...                    callbacks=[keras_vae.callbacks.KLWarmUp(200)])
    >>> [u.num_active for u in keras_vae.diagnostics.active_units(lvae, x_test)]
    [..., ...]

    Reference:
        - [Sønderby et al., 2016](https://arxiv.org/abs/1602.02282)
        - [Kingma et al., 2016](https://arxiv.org/abs/1606.04934) (free bits)
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """

    def __init__(
        self,
        latent_dims=(64, 32, 16, 8, 4),
        hidden_units=(512, 256, 128, 64, 32),
        likelihood="bernoulli",
        objective="elbo",
        num_importance_samples=1,
        beta=1.0,
        free_bits=None,
        inference="ladder",
        batch_norm=True,
        min_log_var=-6.0,
        max_log_var=4.0,
        dynamic_binarization=False,
        seed=None,
        **kwargs,
    ):
        # One size per layer, explicitly (an int is not taken for one layer).
        latent_dims = check_shape(latent_dims, "latent_dims")
        hidden_units = check_widths(hidden_units, "hidden_units")
        if len(latent_dims) != len(hidden_units):
            raise ValueError(
                "Expected `latent_dims` and `hidden_units` of the same length "
                "(one deterministic block per stochastic layer). Received: "
                f"latent_dims={list(latent_dims)} ({len(latent_dims)} layers), "
                f"hidden_units={list(hidden_units)} ({len(hidden_units)} blocks)"
            )
        self._kl_names = tuple(f"kl_{i + 1}" for i in range(len(latent_dims)))
        super().__init__(
            metric_names=("reconstruction", "kl") + self._kl_names,
            objective=objective,
            beta=beta,
            dynamic_binarization=dynamic_binarization,
            seed=seed,
            **kwargs,
        )
        self.inference = check_one_of(inference, "inference", INFERENCE)
        self.batch_norm = bool(batch_norm)
        self.latent_dims = latent_dims
        self.hidden_units = hidden_units
        self.num_layers = len(latent_dims)
        self.num_importance_samples = check_positive_int(
            num_importance_samples, "num_importance_samples"
        )
        self.free_bits = check_free_bits(free_bits, objective)
        if self.free_bits is not None and self.constraint is not None:
            raise ValueError(
                "Free bits and a reconstruction constraint both reshape the KL "
                "term; use one. Received: free_bits="
                f"{free_bits!r} and constraint={self.constraint!r}"
            )
        self.likelihood = self.adopt_component(likelihoods_lib.get(likelihood), "likelihood")
        self.check_binarization()
        # GaussianParameters checks min_log_var < max_log_var.
        clamp = {"min_log_var": min_log_var, "max_log_var": max_log_var}
        self.min_log_var = float(min_log_var)
        self.max_log_var = float(max_log_var)
        dims, units = latent_dims, hidden_units
        # With a seed, the networks' initial weights come from its stream.
        with self.seeded_scope("networks"):
            self._make_networks(dims, units, clamp)
        self.merge = PrecisionWeightedMerge(name="merge")
        self.decoder = None
        self.data_shape = None

    def _make_networks(self, dims, units, clamp):
        self.bottom_up = [
            ladder_networks.mlp_block(u, f"bottom_up_{i + 1}", self.batch_norm)
            for i, u in enumerate(units)
        ]
        self.bottom_up_heads = [
            GaussianParameters(d, name=f"q_hat_z{i + 1}", **clamp) for i, d in enumerate(dims)
        ]
        # top_down[i] maps z_{i+2} to p(z_{i+1} | z_{i+2}) (0-based i).
        self.top_down = [
            ladder_networks.mlp_block(units[i + 1], f"top_down_{i + 1}", self.batch_norm)
            for i in range(self.num_layers - 1)
        ]
        self.top_down_heads = [
            GaussianParameters(dims[i], name=f"p_z{i + 1}", **clamp)
            for i in range(self.num_layers - 1)
        ]

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        self.data_shape = self.check_data_shape(input_shape)
        features = (None, math.prod(self.data_shape))
        for i, (block, head) in enumerate(zip(self.bottom_up, self.bottom_up_heads)):
            if self.inference == "bottom_up" and i > 0:
                features = (None, self.latent_dims[i - 1])
            block.build(features)
            features = block.compute_output_shape(features)
            head.build(features)
        for i, (block, head) in enumerate(zip(self.top_down, self.top_down_heads)):
            block.build((None, self.latent_dims[i + 1]))
            head.build(block.compute_output_shape((None, self.latent_dims[i + 1])))
        pair = ((None, None), (None, None))  # (loc, scale) of any layer
        self.merge.build(pair, pair)
        with self.seeded_scope("decoder"):
            self.decoder = ladder_networks.decoder(
                self.data_shape, self.hidden_units[0], self.batch_norm
            )
        self.decoder.build((None, self.latent_dims[0]))
        if not self.likelihood.built:
            self.likelihood.build((None,) + self.data_shape)
        top = (None, self.latent_dims[-1])
        self.sampler.build(top, top)  # no weights; built for `summary()`
        self.built = True

    # -------------------------------------------------------------- internals
    def _bottom_up_terms(self, x, training=False):
        """Ladder inference: (mu_hat_i, s_hat_i) of every layer, `(batch, d_i)`."""
        h = ops.reshape(ops.cast(x, "float32"), (-1, math.prod(self.data_shape)))
        terms = []
        for block, head in zip(self.bottom_up, self.bottom_up_heads):
            h = block(h, training=training)
            terms.append(head(h))
        return terms

    def _gaussian(self, block, head, h, training=False):
        """`head(block(h))` as `(loc, scale)` over any leading axes of `h`."""
        lead = tuple(ops.shape(h)[:-1])
        loc, scale = head(block(ops.reshape(h, (-1, h.shape[-1])), training=training))
        shape = lead + (head.units,)
        return ops.reshape(loc, shape), ops.reshape(scale, shape)

    def _prior(self, i, z, training=False):
        """p(z_{i+1} | z_{i+2}) (0-based i) for z of shape `(..., d_{i+2})`."""
        return self._gaussian(self.top_down[i], self.top_down_heads[i], z, training)

    def decoder_params(self, z1, training=False):
        lead = tuple(ops.shape(z1)[:-1])
        params = self.decoder(ops.reshape(z1, (-1, self.latent_dims[0])), training=training)
        return ops.reshape(params, lead + self.data_shape)

    def _latents(self, x, num_samples, training=False, at_mean=False):
        """The inference pass: per layer, bottom first, a tuple `(z, q, p)`.

        `z` is a sample of q (k of them per example, or one without a sample
        axis if `num_samples` is `None`; the mean of q if `at_mean`), `q` and
        `p` the `(loc, scale)` of q(z_i | .) and of p(z_i | z_{i+1}) at the
        sampled z_{i+1} (`None` for the top layer's N(0, I)).
        """

        def draw(q, k=None):
            return q[0] if at_mean else self.reparameterize(*q, k)

        if self.inference == "bottom_up":
            # q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1}), then the priors.
            h = ops.reshape(ops.cast(x, "float32"), (-1, math.prod(self.data_shape)))
            zs, qs = [], []
            for i, (block, head) in enumerate(zip(self.bottom_up, self.bottom_up_heads)):
                qs.append(self._gaussian(block, head, h, training))
                h = draw(qs[-1], num_samples if i == 0 else None)
                zs.append(h)
            ps = [self._prior(i, zs[i + 1], training) for i in range(self.num_layers - 1)]
            return list(zip(zs, qs, ps + [None]))
        # Ladder: z_L ~ q(z_L | x), then z_i ~ merge(bottom-up term, p(z_i | z_{i+1})).
        bottom_up = self._bottom_up_terms(x, training)
        q = bottom_up[-1]
        layers = [(draw(q, num_samples), q, None)]
        for i in reversed(range(self.num_layers - 1)):
            p = self._prior(i, layers[0][0], training)
            q = self.merge(bottom_up[i], p)
            layers.insert(0, (draw(q), q, p))
        return layers

    def _forward(self, x, num_samples, training=False):
        """log p(x | z_1) of shape `(k, batch)` and the `_latents` layers."""
        layers = self._latents(x, num_samples, training)
        rec = self.likelihood.log_prob(x, self.decoder_params(layers[0][0], training))
        return rec, layers

    @staticmethod
    def _log_q_minus_log_p(z, q, p):
        log_p = log_normal(z, 0.0, 1.0) if p is None else log_normal(z, *p)
        return log_normal(z, *q) - log_p

    def compute_terms(self, x, training=False):
        self.check_input(x)
        rec, layers = self._forward(x, self.num_importance_samples, training)
        kls = []
        for z, q, p in layers:
            # A closed-form KL given z_{i+1} is unbiased only if z_{i+1} was
            # drawn before z_i: always in the ladder's top-down pass, only for
            # the top layer (p = N(0, I)) in bottom-up inference.
            analytic = self.objective == "elbo" and (self.inference == "ladder" or p is None)
            if analytic:
                kls.append(kl_normal(q, (0.0, 1.0) if p is None else p))
            else:
                kls.append(self._log_q_minus_log_p(z, q, p))
        # A closed-form KL may have no sample axis: broadcast it.
        kls = [ops.broadcast_to(kl, ops.shape(rec)) for kl in kls]
        kl = sum(kls[1:], kls[0])
        objective, bound = self.objective_terms(rec, kl)
        # Per example: the k samples' terms, `(k, batch)`, averaged over k.
        rec, kl = ops.mean(rec, axis=0), ops.mean(kl, axis=0)
        kls = ops.mean(ops.stack(kls), axis=1)  # (num_layers, batch)
        loss = -objective
        if self.free_bits is not None:
            loss = -rec + ops.cast(self.beta, "float32") * self._free_bits_kl(kls)
        terms = {
            "loss": loss,
            self.bound_metric: bound,
            "reconstruction": rec,
            "kl": kl,
        }
        terms.update(dict(zip(self._kl_names, ops.unstack(kls))))
        return terms

    def _free_bits_kl(self, kls):
        """Per example, sum_i of KL_i where the layer's batch mean of KL_i is
        at least lambda (`free_bits`), else lambda: its batch mean is
        sum_i max(lambda, mean(KL_i)), with the same gradient.

        `kls` is `(num_layers, batch)`. Whether a layer is clamped is a
        statistic of the batch, the free-bits rule of Kingma et al. (2016);
        a clamped layer contributes the constant lambda to every example.
        """
        active = ops.mean(kls, axis=1, keepdims=True) >= self.free_bits
        return ops.sum(ops.where(active, kls, self.free_bits), axis=0)

    def log_importance_weights(self, x, num_importance_samples):
        rec, layers = self._forward(x, num_importance_samples)
        return rec - sum(self._log_q_minus_log_p(*layer) for layer in layers)

    # ------------------------------------------------------------- public API
    def call(self, x, training=False):
        self.check_input(x)
        z1 = self._latents(x, None, training, at_mean=True)[0][0]
        return self.likelihood.mean(self.decoder_params(z1, training))

    def encode_tensors(self, x):
        """Posterior `(loc, scale)` per layer, bottom first: the top-down pass
        runs at the posterior means, q(z_i | .) is taken at
        z_{i+1} = E[z_{i+1} | .]. Batch normalization is in inference mode."""
        return [q for _, q, _ in self._latents(x, None, at_mean=True)]

    def decode_tensors(self, z1):
        """Mean of p(x | z_1) for latents of shape `(batch, latent_dims[0])`."""
        return self.likelihood.mean(self.decoder_params(z1))

    def sample_tensors(self, num_samples):
        """Ancestral samples `[z_1, ..., z_L]`: z_L ~ N(0, I), z_i ~ p(z_i | z_{i+1})."""
        top = (num_samples, self.latent_dims[-1])
        samples = [self.reparameterize(ops.zeros(top), ops.ones(top))]
        for i in reversed(range(self.num_layers - 1)):
            samples.insert(0, self.reparameterize(*self._prior(i, samples[0])))
        return samples

    def latent_layers(self, x):
        """Bottom first, the inference pass at the posterior means (as in
        `encode`): lower layers pair q(z_i | .) with the conditional prior
        p(z_i | z_{i+1} = mean) as `(loc, scale, (p_loc, p_scale))`; the top
        layer has p(z_L) = N(0, I). See `LatentVariableModel.latent_layers`."""
        x = self.prepare(x)
        layers = self._latents(x, None, at_mean=True)
        top = StandardNormal(latent_dim=self.latent_dims[-1])
        return [(*q, top if p is None else p) for _, q, p in layers]

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dims": list(self.latent_dims),
            "hidden_units": list(self.hidden_units),
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
            "num_importance_samples": self.num_importance_samples,
            "free_bits": self.free_bits,
            "inference": self.inference,
            "batch_norm": self.batch_norm,
            "min_log_var": self.min_log_var,
            "max_log_var": self.max_log_var,
        }
