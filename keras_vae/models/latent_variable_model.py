"""LatentVariableModel: an `Autoencoder` trained on a bound of log p(x)."""

import math

import keras
import numpy as np
from keras import ops

from keras_vae.layers.gaussian_sample import GaussianSample
from keras_vae.layers.geco import GECO
from keras_vae.losses.bounds import elbo
from keras_vae.losses.bounds import iwae_bound
from keras_vae.models.autoencoder import Autoencoder
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int

OBJECTIVES = ("elbo", "iwae")
CONSTRAINT_METRICS = ("lambda", "constraint", "constraint_average")


class _ScheduleState(keras.callbacks.Callback):
    """Records `beta` at the end of each epoch; `fit` puts it back afterwards."""

    def __init__(self):
        super().__init__()
        self.beta = None

    def on_epoch_end(self, epoch, logs=None):
        self.beta = ops.convert_to_numpy(self.model.beta)


class LatentVariableModel(Autoencoder):
    """Base class of keras_vae models with Gaussian latents and a KL term.

    An `Autoencoder` trained by maximizing a lower bound of log p(x) (the
    ELBO or the IWAE bound), whose latents are diagonal Gaussians. On top of
    the `Autoencoder` step it owns:

    - `beta`: a non-trainable variable weighting the KL term, assigned by
      `keras_vae.callbacks.KLWarmUp` (a Python float would be frozen into the
      compiled step), reported as the metric `beta`;
    - `objective` (`"elbo"` or `"iwae"`) and `objective_terms(rec, kl)`,
      which reduces `(k, batch)` terms with `keras_vae.losses.elbo` /
      `keras_vae.losses.iwae_bound`;
    - an optional reconstruction `constraint` (`keras_vae.layers.GECO`),
      whose Lagrangian `compute_loss` assembles from the per-example terms;
    - `reparameterize(loc, scale, num_samples)`, the one place where a model
      draws z = loc + scale * eps (a `GaussianSample` sublayer with the
      model's `"sampler"` seed stream);
    - `log_likelihood(x, num_importance_samples)`, from the subclass's
      `log_importance_weights(x, num_importance_samples)`.

    The public contract a subclass implements (see `examples/custom_model`):

    - `build(input_shape)`, setting `data_shape`, and `latent_dim`;
    - `compute_terms(x, training)`: the per-example terms, `"loss"`,
      the bound, `"reconstruction"` and `"kl"` of shape `(batch,)` (see
      `Autoencoder`);
    - `log_importance_weights(x, num_importance_samples)`: `(k, batch)`
      log weights log p(x, z_i) - log q(z_i | x);
    - graph hooks `encode_tensors(x) -> (loc, scale)`,
      `decode_tensors(z) -> mean of p(x | z)` and optionally
      `sample_tensors(num_samples) -> z`; from them come the eager
      `encode`, `decode`, `reconstruct`, `sample`, `predict` (the
      deterministic `reconstruct_tensors(x)`, the mean of p(x | z) at
      z = E_q[z]), the default `serving_signatures()` and
      `latent_layers(x)` (for
      `keras_vae.diagnostics.elbo_surgery`), which pairs q(z | x) with
      `self.prior`. Models with several latent layers override these.

    Attributes a subclass sets (declared here as `None`, read by this
    class; see also `Autoencoder`):
        latent_dim: The size of z (of the top layer's z in models with
            several latent layers).
        prior: The `keras_vae.priors.Prior` p(z).

    Args:
        metric_names: Names of the per-batch metrics besides `loss`.
        objective: Optional `"elbo"` or `"iwae"` for models trained on one of
            these bounds: stored as `self.objective`, reduced by
            `objective_terms`, and reported as the metric `elbo` or
            `iwae_bound` (first after `loss`).
        beta: Initial KL weight. Defaults to `1.0`.
        dynamic_binarization: See `Autoencoder`.
        constraint: Optional `keras_vae.layers.GECO` (objective `"elbo"`
            only): train on the Lagrangian beta KL + lambda (C - kappa^2) of
            the reconstruction constraint C = -log p(x|z) <= kappa^2 instead
            of the negative ELBO, with metrics `lambda`, `constraint` (the
            batch C) and `constraint_average` (its moving average).
        seed: See `Autoencoder`.
        **kwargs: `keras.Model` keyword arguments such as `name`.
    """

    latent_dim = None
    prior = None

    # Decoder-output floats per chunk of `log_likelihood` samples: 16M (64 MB)
    # for MLP decoders; models with wide intermediate activations lower it.
    likelihood_chunk_floats = 2**24

    def __init__(
        self,
        metric_names=(),
        objective=None,
        beta=1.0,
        dynamic_binarization=False,
        constraint=None,
        seed=None,
        **kwargs,
    ):
        if objective is not None:
            check_one_of(objective, "objective", OBJECTIVES)
            metric_names = (self._bound_metric(objective),) + tuple(metric_names)
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"Expected `beta` to be a non-negative float. Received: beta={beta!r}")
        if constraint is not None:
            metric_names = tuple(metric_names) + CONSTRAINT_METRICS
        super().__init__(
            metric_names=tuple(metric_names) + ("beta",),
            dynamic_binarization=dynamic_binarization,
            seed=seed,
            **kwargs,
        )
        self.objective = objective
        self.initial_beta = float(beta)
        self.beta = self.add_weight(
            name="beta",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_beta),
            trainable=False,
            autocast=False,
        )
        self.constraint = self._check_constraint(constraint)
        self.sampler = GaussianSample(seed=self.stream_seed("sampler"), name="sampler")

    @staticmethod
    def _bound_metric(objective):
        return "elbo" if objective == "elbo" else "iwae_bound"

    @property
    def bound_metric(self):
        """Name of the reported bound: `"elbo"`, `"iwae_bound"` or `None`."""
        return None if self.objective is None else self._bound_metric(self.objective)

    def _check_constraint(self, constraint):
        if constraint is None:
            return None
        if isinstance(constraint, dict):
            constraint = keras.saving.deserialize_keras_object(constraint)
        if not isinstance(constraint, GECO):
            raise ValueError(
                "Expected `constraint` to be None or a `keras_vae.layers.GECO`. "
                f"Received: constraint={constraint!r}"
            )
        if self.objective != "elbo":
            raise ValueError(
                "A reconstruction constraint needs a model trained on the ELBO "
                "(its Lagrangian splits the ELBO into reconstruction and KL). "
                f"Received: objective={self.objective!r} for {type(self).__name__}"
            )
        return constraint

    def build_generative(self, decoder_input_shape, prior_input_shape, posterior_fn):
        """Build `self.decoder` (checking it outputs the data's shape), then
        `self.prior` (attached to the encoder `posterior_fn`, for priors such
        as `VampPrior`) and `self.likelihood` unless restored built."""
        self.decoder.build(decoder_input_shape)
        decoded = tuple(self.decoder.compute_output_shape(decoder_input_shape))[1:]
        if decoded != self.data_shape:
            raise ValueError(
                "Expected the decoder to output likelihood parameters with the "
                f"data's shape {self.data_shape}. Received: decoder output "
                f"shape {decoded} for latents of shape {decoder_input_shape}"
            )
        self.prior.attach_encoder(posterior_fn, self.data_shape)
        # Sublayers restored from a `.keras` config arrive already built.
        if not self.prior.built:
            with self.seeded_scope("prior"):  # priors with networks make them here
                self.prior.build(prior_input_shape)
        if not self.likelihood.built:
            self.likelihood.build((None,) + self.data_shape)
        if not self.sampler.built:  # no weights; built for `summary()`
            self.sampler.build(prior_input_shape, prior_input_shape)

    # ------------------------------------------------------------ the bound
    def reparameterize(self, loc, scale, num_samples=None):
        """z = loc + scale * eps, eps ~ N(0, I), from the model's sampler.

        With `num_samples` k, a leading axis of k independent draws:
        `(k,) + loc.shape`. This is the one place the model draws a latent
        from its Gaussian parameters (the seam for gradient estimators).
        """
        return self.sampler(loc, scale, num_samples=num_samples)

    def objective_terms(self, rec, kl):
        """Per-example training objective and true bound from `(k, batch)` terms.

        `rec` is log p(x|z) and `kl` the KL term (or log q - log p) of each
        sample; the objective scales `kl` by `beta`, the bound does not. With
        `objective == "iwae"` both are `keras_vae.losses.iwae_bound`s of the
        log weights rec - kl over the k samples, otherwise
        `keras_vae.losses.elbo`s.
        """
        beta = ops.cast(self.beta, "float32")
        if self.objective == "iwae":
            return iwae_bound(rec - beta * kl), iwae_bound(rec - kl)
        return elbo(rec, kl, beta), elbo(rec, kl)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`Autoencoder.compute_loss`; with a `constraint`, of the Lagrangian

        ```none
        loss = beta mean_n(kl_n) + lambda (C - kappa^2),   C = -mean_n(reconstruction_n)
        ```

        instead of the negative ELBO, from the per-example terms `kl` and
        `reconstruction` of `y_pred`. Both terms are batch means, like the
        ELBO loss -mean(rec - beta kl) they replace, so the gradient of each
        is exact. In training the constraint's multiplier lambda is updated
        first from the batch's C (`keras_vae.layers.GECO`).
        """
        if self.constraint is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        check_no_sample_weight(sample_weight)  # before the multiplier moves
        if y_pred is None:
            self.build_for_batch(x)
            y_pred = self.compute_terms(x, training=training)
        c = -ops.mean(y_pred["reconstruction"])
        lam = self.constraint(c, training=training)
        beta = ops.cast(self.beta, "float32")
        # Per example, so that the base class reduces it (its batch mean is
        # the Lagrangian above) and adds `self.losses`.
        kappa_squared = self.constraint.kappa_squared
        lagrangian = beta * y_pred["kl"] + lam * (-y_pred["reconstruction"] - kappa_squared)
        return super().compute_loss(x, y, dict(y_pred, loss=lagrangian), sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        terms = dict(y_pred, beta=self.beta)
        if self.constraint is not None:
            terms["lambda"] = ops.convert_to_tensor(self.constraint.multiplier)
            terms["constraint"] = -ops.mean(terms["reconstruction"])
            terms["constraint_average"] = ops.convert_to_tensor(self.constraint.constraint_average)
        return super().compute_metrics(x, y, terms, sample_weight)

    def log_importance_weights(self, x, num_importance_samples):
        """`(num_importance_samples, batch)` log weights log p(x, z_i) - log q(z_i | x).

        A conditional model (`num_classes` set) takes `condition=c` too,
        float32 `(batch, num_classes)`, and returns those of p(x, z_i | c)."""
        raise NotImplementedError

    # ---------------------------------------------------------- public API
    def encode_tensors(self, x):
        """Graph hook: posterior `(loc, scale)` of q(z | x), each `(batch,
        latent_dim)` (a conditional model's takes `condition=c` too)."""
        raise NotImplementedError

    def decode_tensors(self, z):
        """Graph hook: mean of p(x | z) for `z` of shape `(batch, latent_dim)`
        (a conditional model's takes `condition=c` too)."""
        raise NotImplementedError

    @staticmethod
    def with_condition(hook, *args, condition=None):
        """`hook(*args)`, with `condition=condition` when there is one (the
        graph hooks of unconditional models take no condition)."""
        if condition is None:
            return hook(*args)
        return hook(*args, condition=condition)

    def encode(self, x, condition=None):
        """Posterior parameters `(loc, scale)` of q(z | x), each `(batch, latent_dim)`.

        Args:
            x: A batch of data.
            condition: The condition c of a conditional model (class ids
                `(batch,)` or float vectors `(batch, num_classes)`), then
                q(z | x, c); must be `None` for an unconditional model.
        """
        x = self.prepare(x)
        c = self.prepare_condition(condition, len(x))
        return self.with_condition(self.encode_tensors, x, condition=c)

    def decode(self, z, condition=None):
        """Mean of p(x | z) (of p(x | z, c) with `condition`, see `encode`)
        for latents `z` of shape `(batch, latent_dim)`."""
        self.check_built()
        z = self.check_latent(z, self.latent_dim)
        c = self.prepare_condition(condition, int(z.shape[0]))
        return self.with_condition(self.decode_tensors, z, condition=c)

    def reconstruct(self, x, condition=None):
        """Mean of p(x | z) at the posterior mean z = E_q[z] (with
        `condition`, of p(x | z, c) at E_q[z | x, c]; see `encode`)."""
        loc, _ = self.encode(x, condition)
        return self.decode(loc, condition)

    def embed_tensors(self, x, condition=None):
        """Graph hook of `embed`: the posterior means of `encode_tensors`,
        concatenated bottom layer first for several latent layers."""
        posterior = self.with_condition(self.encode_tensors, x, condition=condition)
        if isinstance(posterior[0], (tuple, list)):  # one (loc, scale) per layer
            return ops.concatenate([loc for loc, _ in posterior], axis=-1)
        return posterior[0]

    def embed(self, x, condition=None):
        """Deterministic embedding of `x`: the posterior mean E_q[z | x].

        ```none
        embed(x) = E_q[z | x] = loc(x)              (the `loc` of `encode(x)`)
        embed(x) = [E_q[z_1 | x], ..., E_q[z_L | x]] (several latent layers)
        ```

        No sampling, so two calls return the same values; use it as a
        feature vector of x (nearest neighbours, a classifier, a plot). For
        a model with several latent layers (`HierarchicalVAE`, `LadderVAE`)
        it is the concatenation of every layer's posterior mean, bottom
        layer first, each taken as `encode` takes it (upper layers at their
        posterior means), shape `(batch, sum of the latent sizes)`.

        Args:
            x: A batch of data.
            condition: See `encode`.

        Returns:
            A float32 tensor of shape `(batch, latent size)`.
        """
        x = self.prepare(x)
        c = self.prepare_condition(condition, len(x))
        return self.embed_tensors(x, condition=c)

    def sample(self, num_samples, condition=None):
        """Means of p(x | z) for `num_samples` draws z ~ p(z).

        With a conditional model, means of p(x | z, c): `condition` holds
        one row per sample (see `encode`), or is one class id (an int) for
        all of them.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        self.check_built()
        if isinstance(condition, (int, np.integer)) and not isinstance(condition, bool):
            condition = np.full((num_samples,), condition, dtype="int64")
        c = self.prepare_condition(condition, num_samples)
        return self.with_condition(
            self.decode_tensors, self.sample_tensors(num_samples), condition=c
        )

    def sample_tensors(self, num_samples):
        """Graph hook: `num_samples` draws z ~ p(z) of the model's `prior`."""
        return self.prior.sample(num_samples)

    def latent_layers(self, x):
        """Per latent layer, bottom first, `(loc, scale, prior)` of a batch.

        `loc` and `scale` are the diagonal Gaussian posterior's parameters,
        `(batch, d)`; `prior` is a `keras_vae.priors.Prior` (a marginal
        prior) or a pair `(p_loc, p_scale)` of per-example Gaussian
        parameters (a conditional prior). Used by
        `keras_vae.diagnostics.elbo_surgery`. The default has one layer,
        q(z | x) from `encode` and `self.prior`.
        """
        loc, scale = self.encode(x)
        return [(loc, scale, self.prior)]

    def log_likelihood(self, x, num_importance_samples=5000, chunk_size=None, condition=None):
        """Importance-sampled estimate of log p(x) per example (nats).

        ```none
        log p(x) ~= log (1/S) sum_{s=1..S} p(x, z_s) / q(z_s | x),  z_s ~ q(z | x)
        ```

        This is the IWAE bound with S samples: it is a lower bound whose
        expectation rises to log p(x) as S grows (Burda et al. use S = 5000).
        Samples are drawn in chunks and combined by a running log-sum-exp
        in one compiled loop (`estimate_log_mean_exp` of the backend's
        steps, which runs `keras_vae.trainers.chunked_log_mean_exp`, the
        estimator of the exported `log_likelihood` signature too), so
        memory stays bounded whatever S is.

        Args:
            x: A batch of data, shape `(batch,) + input_shape`.
            num_importance_samples: Positive integer S. Defaults to 5000.
            chunk_size: Samples per chunk. Defaults to a size that keeps the
                decoder output of a chunk near `likelihood_chunk_floats`.
            condition: The condition c of a conditional model (see
                `encode`): the estimate is then of log p(x | c).

        Returns:
            A float64 numpy array of shape `(batch,)`.
        """
        num = check_positive_int(num_importance_samples, "num_importance_samples")
        x = self.prepare(x)
        c = self.prepare_condition(condition, len(x))
        if chunk_size is None:
            per_sample = max(1, x.size)
            budget = self.likelihood_chunk_floats
            chunk_size = int(min(num, max(1, budget // per_sample)))
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        if c is None:
            log_p = self.estimate_log_mean_exp(
                "log_likelihood", self.log_importance_weights, x, num, chunk_size
            )
        else:
            # The estimator takes one batch tensor: x's features and c side
            # by side, split again inside the compiled function.
            size = math.prod(self.data_shape)

            def log_weights(packed, k):
                x_part = ops.reshape(packed[:, :size], (-1,) + tuple(self.data_shape))
                return self.log_importance_weights(x_part, k, condition=packed[:, size:])

            packed = np.concatenate([x.reshape(len(x), -1), c], axis=1)
            log_p = self.estimate_log_mean_exp(
                "log_likelihood_conditional", log_weights, packed, num, chunk_size
            )
        return np.asarray(log_p, dtype="float64")

    def fit(self, *args, callbacks=None, **kwargs):
        """`Autoencoder.fit`; `beta` ends at the value of the last epoch trained.

        That holds even when a callback restores an earlier epoch's weights at
        the end of training
        (`keras.callbacks.EarlyStopping(restore_best_weights=True)`): `beta`
        is schedule state (`keras_vae.callbacks.KLWarmUp`), not a learned
        weight. Monitor `val_elbo` (or `val_iwae_bound`) with `mode="max"`
        rather than `val_loss`, which under a KL warm-up favours the epochs
        with the smallest beta.
        """
        if not isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks = list(callbacks or [])
        schedule = _ScheduleState()
        if isinstance(callbacks, list):
            callbacks.append(schedule)
        history = super().fit(*args, callbacks=callbacks, **kwargs)
        if schedule.beta is not None:
            self.beta.assign(schedule.beta)
        return history

    def get_config(self):
        """`Autoencoder.get_config` and, of `beta`, `constraint` (when set)
        and `objective` (when set), those the model's class takes from its
        caller: a subclass that fixes `objective` in its
        `super().__init__(...)` call does not get it in its config (see
        `Autoencoder.config_includes`)."""
        config = super().get_config()
        for name, value in (
            ("beta", self.initial_beta),
            ("constraint", self.constraint),
            ("objective", self.objective),
        ):
            if (name == "beta" or value is not None) and self.config_includes(name):
                config[name] = keras.saving.serialize_keras_object(value)
        return config
