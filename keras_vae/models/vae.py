"""VAE: the variational autoencoder and the importance weighted autoencoder."""

import inspect
import math

import keras
from keras import ops

from keras_vae import likelihoods as likelihoods_lib
from keras_vae import priors as priors_lib
from keras_vae.layers.gaussian_parameters import GaussianParameters
from keras_vae.losses.bounds import iwae_bound
from keras_vae.losses.gaussian import log_normal
from keras_vae.losses.gradient_estimators import GRADIENT_ESTIMATORS
from keras_vae.losses.gradient_estimators import iwae_objective
from keras_vae.models.gated_mlp import gated_mlp_decoder
from keras_vae.models.gated_mlp import gated_mlp_encoder
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.utils.validation import check_condition_given
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_widths


@keras.saving.register_keras_serializable(package="keras_vae")
class VAE(LatentVariableModel):
    """Variational autoencoder with an ELBO or IWAE objective.

    ```none
    q(z | x) = N(z; mu(x), diag sigma(x)^2),   p(x, z) = p(x | z) p(z)
    log w_i  = log p(x | z_i) + log p(z_i) - log q(z_i | x),   z_i ~ q(z | x)
    ELBO     = (1/k) sum_i log p(x | z_i) - KL(q || p)         (analytic KL when
                                                                the prior has one)
    IWAE_k   = log (1/k) sum_i w_i
    ```

    Training minimizes the negative objective with the KL term (or the
    log p(z) - log q(z|x) part of each log weight) scaled by the variable
    `beta`. The reported `elbo` / `iwae_bound` metric always uses beta = 1, so
    it is the true bound.

    With `num_classes` the model is a conditional VAE of p(x | c)
    (Sohn et al., 2015), both networks fed the condition c:

    ```none
    q(z | x, c) = N(z; mu(x, c), diag sigma(x, c)^2),   p(x, z | c) = p(x | z, c) p(z)
    ELBO(x, c)  = E_q[log p(x | z, c)] - KL(q(z | x, c) || p(z))
    ```

    c is integer class ids `(batch,)` in [0, num_classes), one-hot encoded
    inside (the labels of `keras_vae.datasets.load(..., labels=True)` work
    as they are), or float vectors `(batch, num_classes)` used as they are
    (soft labels, attributes). It is fed as Keras feeds targets:
    `fit(x, c)`, `evaluate(x, c)`, `validation_data=(x_val, c_val)`,
    `predict((x, c))`, or a dataset or generator yielding `(x, c)`; the
    eager API takes it as `condition=`: `encode`, `decode`, `reconstruct`,
    `embed`, `sample` and `log_likelihood`. The networks see c as float32
    vectors:

    - the default encoder reads the flattened x concatenated with c; an
      encoder of your own reads x alone and c is concatenated to its
      output features before the posterior head, so any encoder (a
      convolutional one included) works unchanged;
    - the decoder (default or your own) reads `concatenate([z, c])`, of
      shape `(batch, latent_dim + num_classes)`.

    The prior stays p(z) (no conditional prior); priors that run the
    encoder (`VampPrior`) are refused with a condition. An unconditional
    model refuses a `y`; a conditional one refuses a missing condition.

    `predict(x)` (and `model(x)`) is deterministic: the mean of p(x | z) at
    the posterior mean z = E_q[z], equal to `reconstruct(x)`. `evaluate`
    reports the training objective, a Monte Carlo estimate (z ~ q(z | x)
    drawn with the model's seed generator), so two calls differ slightly.

    Args:
        encoder: Keras layer mapping x to features (flattened to a vector).
            Defaults to the gated MLP trunk `gated_mlp_encoder(hidden_units)`.
        decoder: Keras layer mapping z to likelihood parameters with the
            shape of x (logits for `"bernoulli"`). Defaults to
            `gated_mlp_decoder(input_shape, hidden_units)`, built once the data
            shape is known.
        latent_dim: Positive integer, size of z. Defaults to 40.
        prior: A `keras_vae.priors.Prior`; `None` means `StandardNormal`.
        likelihood: `"bernoulli"` (the default: binary data or
            intensities in [0, 1]), `"gaussian"` or a
            `keras_vae.likelihoods.Likelihood`. `"gaussian"` is
            `Gaussian()`, a FIXED sigma = 1, so the reconstruction term is a
            squared error and `log_likelihood` is that of unit-variance
            noise, far too wide for data in [0, 1]; for continuous data pass
            `keras_vae.likelihoods.Gaussian(learn_scale=True)` (a learned
            per-dimension sigma) or `Gaussian(scale=...)`.
        objective: `"elbo"` or `"iwae"`.
        num_importance_samples: Positive integer k, samples of z per example
            in training (the k of the IWAE bound).
        beta: Initial KL weight (a variable; see `KLWarmUp`).
        hidden_units: Widths of the default gated MLP trunks (a tuple; an
            int `u` means `(u,)`).
        analytic_kl: Use the prior's closed-form KL for the ELBO when it has
            one (lower variance). Defaults to `True`.
        min_log_var: Lower clamp of the posterior log-variance (-6).
        max_log_var: Upper clamp of the posterior log-variance (2).
        dynamic_binarization: Binarize every training batch, x ~ Bernoulli(x).
            Only with a likelihood of binary data (`"bernoulli"`): refused
            with any other, whose real-valued data it would silently change.
        gradient_estimator: Encoder-gradient estimator of the IWAE bound
            (objective `"iwae"` only): `"standard"` (Burda et al.), `"stl"`
            (sticking the landing, Roeder et al. 2017; biased for k > 1) or
            `"dreg"` (doubly reparameterized, Tucker et al. 2018; unbiased,
            and its signal-to-noise ratio grows with k). The bound and the
            reported metrics are the same; see
            `keras_vae.losses.iwae_objective`. DReG evaluates the decoder
            twice per step (about 1.3x the step time at k = 5).
        num_classes: Optional positive integer: the width of the condition
            c of a conditional VAE (the number of classes of its integer
            class ids, or the size of its float condition vectors).
            Defaults to `None`, an unconditional VAE of p(x).
        seed: Optional integer seed.
        **kwargs: `keras.Model` keyword arguments, and `metric_names`:
            names of the terms a subclass adds to `compute_terms`, logged
            after `reconstruction` and `kl` (as `BetaTCVAE` logs its
            decomposition).

    Call arguments:
        x: A batch of data; for a conditional model the pair `(x, c)`.
        training: Whether the networks run in training mode (dropout,
            batch statistics). Returns the mean of p(x | z) at the posterior
            mean z = E_q[z] (no sampling): with `training=False`,
            `reconstruct(x)` and what `predict` returns.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=8, hidden_units=(64, 64), seed=0)
    >>> vae.compile(optimizer="adam")  # jit_compile=True: the step under XLA
    >>> history = vae.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> log_px = vae.log_likelihood(x_test[:10], num_importance_samples=1000)
    >>> log_px.shape
    (10,)

    A conditional VAE of p(x | digit), trained on `(x, y)`:

    >>> x, y = keras_vae.datasets.load(
    ...     "digits", "train", binarization="static", as_numpy=True, labels=True)
    >>> cvae = keras_vae.models.VAE(
    ...     latent_dim=8, hidden_units=(64,), num_classes=10, seed=0)
    >>> cvae.compile(optimizer="adam")
    >>> history = cvae.fit(x, y, epochs=1, batch_size=100, verbose=0)
    >>> cvae.sample(4, condition=[0, 1, 2, 3]).shape
    TensorShape([4, 8, 8, 1])

    Reference:
        - [Kingma & Welling, 2014](https://arxiv.org/abs/1312.6114)
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
        - [Sohn et al., 2015](https://papers.nips.cc/paper/5775) (the
          conditional VAE)
    """

    def __init__(
        self,
        encoder=None,
        decoder=None,
        latent_dim=40,
        prior=None,
        likelihood="bernoulli",
        objective="elbo",
        num_importance_samples=1,
        beta=1.0,
        hidden_units=(300, 300),
        analytic_kl=True,
        min_log_var=-6.0,
        max_log_var=2.0,
        dynamic_binarization=False,
        gradient_estimator="standard",
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        check_one_of(gradient_estimator, "gradient_estimator", GRADIENT_ESTIMATORS)
        if gradient_estimator != "standard" and objective != "iwae":
            raise ValueError(
                "`gradient_estimator` applies to the IWAE bound: use "
                "`objective='iwae'` (with `num_importance_samples=1` it is the "
                "ELBO, where DReG and STL coincide). Received: "
                f"gradient_estimator={gradient_estimator!r}, objective={objective!r}"
            )
        super().__init__(
            metric_names=("reconstruction", "kl") + tuple(kwargs.pop("metric_names", ())),
            objective=objective,
            beta=beta,
            dynamic_binarization=dynamic_binarization,
            seed=seed,
            **kwargs,
        )
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.num_importance_samples = check_positive_int(
            num_importance_samples, "num_importance_samples"
        )
        self.hidden_units = check_widths(hidden_units, "hidden_units")
        self.analytic_kl = bool(analytic_kl)
        self.gradient_estimator = gradient_estimator
        self.min_log_var = float(min_log_var)
        self.max_log_var = float(max_log_var)
        self.num_classes = check_optional_positive_int(num_classes, "num_classes")
        self._default_encoder = encoder is None
        self._default_decoder = decoder is None
        # With a seed, default components start from its streams (the
        # initializers drawn here, and each component's sampling stream).
        with self.seeded_scope("components"):
            if encoder is None:
                encoder = gated_mlp_encoder(self.hidden_units)
            self.prior = self.adopt_component(priors_lib.get(prior), "prior")
            self.likelihood = self.adopt_component(likelihoods_lib.get(likelihood), "likelihood")
            self.check_binarization()
            self._check_conditional_prior()
            self.posterior = GaussianParameters(
                self.latent_dim, min_log_var=min_log_var, max_log_var=max_log_var, name="posterior"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.data_shape = None

    def _check_conditional_prior(self):
        """A conditional model's prior p(z) must not run the encoder, which
        needs a condition (`VampPrior`'s components are q(z | u_k))."""
        if self.num_classes is None:
            return
        hooks = (self.log_importance_weights, self.encode_tensors, self.decode_tensors)
        if not all("condition" in inspect.signature(hook).parameters for hook in hooks):
            raise ValueError(
                f"Expected a model whose graph hooks take a `condition` with "
                f"`num_classes`. Received: num_classes={self.num_classes} for "
                f"{type(self).__name__}, whose `log_importance_weights`, "
                "`encode_tensors` or `decode_tensors` takes none."
            )
        if type(self.prior).attach_encoder is not priors_lib.Prior.attach_encoder:
            raise ValueError(
                "Expected a prior that does not run the encoder with "
                "`num_classes` (a conditional encoder q(z | x, c) needs a "
                "condition the prior does not have). Received: "
                f"prior={type(self.prior).__name__}, num_classes={self.num_classes}"
            )

    @property
    def condition_width(self):
        """Floats of the condition the networks read: `num_classes` or 0."""
        return 0 if self.num_classes is None else self.num_classes

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        if input_shape and isinstance(input_shape[0], (tuple, list)):
            input_shape = input_shape[0]  # a call on the pair (x, c)
        self.data_shape = self.check_data_shape(input_shape)
        width = self.condition_width
        if self.decoder is None:
            with self.seeded_scope("decoder"):
                self.decoder = gated_mlp_decoder(self.data_shape, self.hidden_units)
        encoder_input = input_shape
        if width and self._default_encoder:  # reads [flatten(x), c]
            encoder_input = (None, math.prod(self.data_shape) + width)
        self.encoder.build(encoder_input)
        features = self.encoder.compute_output_shape(encoder_input)
        if len(features) != 2:
            raise ValueError(
                "Expected the encoder to output features of shape "
                "(batch, features); end it with `keras.layers.Flatten()`. "
                f"Received: encoder output shape {tuple(features)}"
            )
        if width and not self._default_encoder:  # reads [features, c]
            features = (features[0], features[1] + width)
        self.posterior.build(features)
        latent = (None, self.latent_dim)
        self.build_generative((None, self.latent_dim + width), latent, self.posterior_params)
        self.built = True

    # -------------------------------------------------------------- internals
    def _check_condition(self, condition):
        """A condition is there exactly when the model is conditional."""
        if self.num_classes is None:
            if condition is not None:
                raise ValueError(
                    "Expected no condition: the model is unconditional "
                    f"(num_classes=None). Received: a condition of shape {tuple(condition.shape)}"
                )
            return
        check_condition_given(condition, self.num_classes)

    def posterior_params(self, x, training=False, condition=None):
        """`(loc, scale)` of q(z | x) (of q(z | x, c) for a conditional
        model, `condition` c of shape `(batch, num_classes)`), each
        `(batch, latent_dim)`."""
        self._check_condition(condition)
        if condition is None:
            return self.posterior(self.encoder(x, training=training))
        c = self.condition_tensor(condition, "condition")
        if self._default_encoder:
            flat = ops.reshape(ops.cast(x, "float32"), (-1, math.prod(self.data_shape)))
            return self.posterior(self.encoder(ops.concatenate([flat, c], -1), training=training))
        features = ops.cast(self.encoder(x, training=training), "float32")
        return self.posterior(ops.concatenate([features, c], -1))

    def decoder_params(self, z, training=False, condition=None):
        """Decoder outputs for z of shape `(..., latent_dim)` (and, for a
        conditional model, `condition` c of shape `(batch, num_classes)`,
        broadcast over z's leading sample axes)."""
        self._check_condition(condition)
        lead = ops.shape(z)[:-1]
        if condition is not None:
            # (..., batch, 1) + (batch, C): c repeated over the sample axes.
            c = ops.cast(self.condition_tensor(condition, "condition"), z.dtype)
            c = ops.zeros_like(z[..., :1]) + c
            z = ops.concatenate([z, c], -1)
        flat = ops.reshape(z, (-1, self.latent_dim + self.condition_width))
        params = self.decoder(flat, training=training)
        return ops.reshape(params, tuple(lead) + self.data_shape)

    def _log_weight_parts(self, x, z, loc, scale, training=False, condition=None):
        """log p(x|z), log p(z) and log q(z|x) for z of shape (k, batch, d)."""
        rec = self.likelihood.log_prob(x, self.decoder_params(z, training, condition))
        return rec, self.prior.log_prob(z), log_normal(z, loc, scale)

    def compute_terms(self, x, training=False):
        """Per-example terms of a batch `x` (of a conditional model, the
        pair `(x, c)`, c float32 `(batch, num_classes)`)."""
        x, c = self.split_condition(x)
        self.check_input(x)
        loc, scale = self.posterior_params(x, training, c)
        if self.gradient_estimator != "standard":
            return self._estimator_terms(x, loc, scale, training, c)
        z = self.reparameterize(loc, scale, self.num_importance_samples)
        analytic = self.objective == "elbo" and self.analytic_kl and self.prior.has_analytic_kl
        if analytic:
            rec = self.likelihood.log_prob(x, self.decoder_params(z, training, c))
            kl = self.prior.kl_divergence(loc, scale)
        else:
            rec, log_p, log_q = self._log_weight_parts(x, z, loc, scale, training, c)
            kl = log_q - log_p
        objective, bound = self.objective_terms(rec, kl)
        # Per example: the k samples' terms, `(k, batch)`, averaged over k
        # (the analytic KL has no sample axis).
        return {
            "loss": -objective,
            self.bound_metric: bound,
            "reconstruction": ops.mean(rec, axis=0),
            "kl": kl if analytic else ops.mean(kl, axis=0),
        }

    def _estimator_terms(self, x, loc, scale, training, condition=None):
        """Per-example IWAE terms with the STL or DReG gradient: `"loss"` is
        the negative surrogate of `iwae_objective`, whose value is -L_k(x)."""
        k = self.num_importance_samples
        # The sampler's own draw, as `reparameterize` would make it.
        eps = self.reparameterize(ops.zeros_like(loc), ops.ones_like(scale), k)
        beta = ops.cast(self.beta, "float32")
        parts = []

        def log_weight_fn(z, q_loc, q_scale):
            rec = self.likelihood.log_prob(x, self.decoder_params(z, training, condition))
            kl = log_normal(z, q_loc, q_scale) - self.prior.log_prob(z)
            parts.append((rec, kl))  # equal values at every call
            return rec - beta * kl

        surrogate, _ = iwae_objective(
            log_weight_fn, loc, scale, eps, estimator=self.gradient_estimator
        )
        rec, kl = (ops.stop_gradient(t) for t in parts[-1])
        return {
            "loss": -surrogate,
            self.bound_metric: iwae_bound(rec - kl),
            "reconstruction": ops.mean(rec, axis=0),
            "kl": ops.mean(kl, axis=0),
        }

    def log_importance_weights(self, x, num_importance_samples, condition=None):
        loc, scale = self.posterior_params(x, condition=condition)
        z = self.reparameterize(loc, scale, num_importance_samples)
        rec, log_p, log_q = self._log_weight_parts(x, z, loc, scale, condition=condition)
        return rec + log_p - log_q

    # ------------------------------------------------------------- public API
    def call(self, x, training=False):
        x, c = self.split_condition(x)
        self.check_input(x)
        loc, _ = self.posterior_params(x, training, c)
        return self.likelihood.mean(self.decoder_params(loc, training, c))

    def encode_tensors(self, x, condition=None):
        return self.posterior_params(x, condition=condition)

    def decode_tensors(self, z, condition=None):
        return self.likelihood.mean(self.decoder_params(z, condition=condition))

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "encoder": None if self._default_encoder else ser(self.encoder),
            "decoder": None if self._default_decoder else ser(self.decoder),
            "latent_dim": self.latent_dim,
            "prior": ser(self.prior),
            "likelihood": ser(self.likelihood),
            "num_importance_samples": self.num_importance_samples,
            "hidden_units": list(self.hidden_units),
            "analytic_kl": self.analytic_kl,
            "gradient_estimator": self.gradient_estimator,
            "min_log_var": self.min_log_var,
            "max_log_var": self.max_log_var,
            "num_classes": self.num_classes,
        }
