"""LatentVariableModel: the training loop shared by keras_vae models."""

import math

import keras
import numpy as np
from keras import ops

from keras_vae.likelihoods.bernoulli import Bernoulli
from keras_vae.likelihoods.discretized_logistic import DiscretizedLogistic
from keras_vae.losses.geco import GECO
from keras_vae.losses.bounds import iwae_bound
from keras_vae.models.tensorflow_trainer import TensorFlowTrainer
from keras_vae.utils.validation import check_batch
from keras_vae.utils.validation import check_finite
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_unit_interval
from keras_vae.utils import random
from keras_vae.utils import seed_streams


OBJECTIVES = ("elbo", "iwae")
CONSTRAINT_METRICS = ("lambda", "constraint", "constraint_average")


class _ScheduleState(keras.callbacks.Callback):
    """Records `beta` at the end of each epoch; `fit` puts it back afterwards."""

    def __init__(self):
        super().__init__()
        self.beta = None

    def on_epoch_end(self, epoch, logs=None):
        self.beta = ops.convert_to_numpy(self.model.beta)


class LatentVariableModel(seed_streams.SeedStateMixin, TensorFlowTrainer, keras.Model):
    """Base class of keras_vae models trained by maximizing a bound.

    Subclasses implement `compute_terms(x, training)`, returning a dict with
    a scalar `"loss"` (the batch mean of the negative objective) and one
    batch-mean scalar per reported metric, and `log_importance_weights(x, k)`
    for likelihood estimation. This class owns:

    - `beta`: a non-trainable variable weighting the KL term, assigned by
      `keras_vae.callbacks.KLWarmUp` (a Python float would be frozen into the
      compiled step);
    - optional dynamic binarization of each training batch, x ~ Bernoulli(x);
    - a `keras.random.SeedGenerator`, so steps compile with XLA;
    - the train/test steps: `evaluate` reports the training objective, a
      non-finite loss or gradient skips the update and `fit` then stops with
      `keras_vae.callbacks.TerminateOnNaN`, keeping the last good weights.

    Args:
        metric_names: Names of the per-batch metrics besides `loss`.
        objective: Optional `"elbo"` or `"iwae"` for models trained on one of
            these bounds: stored as `self.objective`, reduced by
            `_objective_and_bound`, and reported as the metric `elbo` or
            `iwae_bound` (first after `loss`).
        beta: Initial KL weight. Defaults to `1.0`.
        dynamic_binarization: If `True`, binarize each training batch by
            sampling x ~ Bernoulli(x) inside the step. Defaults to `False`.
        constraint: Optional `keras_vae.losses.GECO` (objective `"elbo"`
            only): train on the Lagrangian beta KL + lambda (C - kappa^2) of
            the reconstruction constraint C = -log p(x|z) <= kappa^2 instead
            of the negative ELBO, with metrics `lambda`, `constraint` (the
            batch C) and `constraint_average` (its moving average).
        seed: Optional integer seed of all sampling in the model and of the
            initial weights of the networks and components the model builds
            itself. Each consumer gets its own stream
            `keras_vae.utils.seed_streams.stream_seed(seed, name)`; a
            component passed in with `seed=None` is given the model's stream
            for it, one with its own seed keeps it. Networks passed in keep
            their own initializers. The generator states are saved with the
            model (`.keras`, `save_weights`, `BackupAndRestore`).
        **kwargs: `keras.Model` keyword arguments such as `name`.
    """

    # `.keras` files and backups hold every generator state of the model,
    # those of foreign sublayers (a `Dropout` in a custom network) included.
    save_foreign_seed_states = True

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
        super().__init__(**kwargs)
        self.objective = objective
        if objective is not None:
            check_one_of(objective, "objective", OBJECTIVES)
            self._bound_name = "elbo" if objective == "elbo" else "iwae_bound"
            metric_names = (self._bound_name,) + tuple(metric_names)
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise ValueError(
                f"Expected `beta` to be a non-negative float. Received: beta={beta!r}"
            )
        self.initial_beta = float(beta)
        self.dynamic_binarization = bool(dynamic_binarization)
        self.seed = seed
        # One stream per consumer of `seed` (see `keras_vae.utils.seed_streams`).
        self.seed_generator = keras.random.SeedGenerator(
            seed_streams.stream_seed(seed, "model"), name="model_seed_generator"
        )
        self.beta = self.add_weight(
            name="beta",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_beta),
            trainable=False,
            autocast=False,
        )
        self.constraint = self._check_constraint(constraint)
        if self.constraint is not None:
            metric_names = tuple(metric_names) + CONSTRAINT_METRICS
        self._metric_names = ("loss",) + tuple(metric_names) + ("beta",)
        self._trackers = {n: keras.metrics.Mean(name=n) for n in self._metric_names}

    def _seeded(self, name):
        """Context in which layers built for the model take their initial
        weights from stream `name` of the model's seed."""
        return seed_streams.seeded_construction(self.seed, name)

    def _adopt(self, layer, name):
        """Give an unseeded component (prior, likelihood) stream `name`."""
        return seed_streams.adopt_seed(layer, self.seed, name)

    def _check_constraint(self, constraint):
        if constraint is None:
            return None
        if isinstance(constraint, dict):
            constraint = keras.saving.deserialize_keras_object(constraint)
        if not isinstance(constraint, GECO):
            raise ValueError(
                "Expected `constraint` to be None or a `keras_vae.losses.GECO`. "
                f"Received: constraint={constraint!r}"
            )
        if self.objective != "elbo":
            raise ValueError(
                "A reconstruction constraint needs a model trained on the ELBO "
                "(its Lagrangian splits the ELBO into reconstruction and KL). "
                f"Received: objective={self.objective!r} for {type(self).__name__}"
            )
        return constraint

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _update_trackers(self, terms):
        terms = dict(terms, beta=self.beta)
        for name, tracker in self._trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    @staticmethod
    def _unpack(data):
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                "keras_vae models do not support `sample_weight`. "
                "Received: sample_weight of shape "
                f"{tuple(getattr(sample_weight, 'shape', ()))}"
            )
        return x

    def binarize(self, x):
        """Sample binary pixels x_b ~ Bernoulli(x) (dynamic binarization)."""
        u = random.uniform(ops.shape(x), seed=self.seed_generator)
        return ops.cast(u < ops.cast(x, "float32"), x.dtype)

    def _build_for_batch(self, x):
        """Build from a batch (array, tensor or `TensorSpec`) if not built.

        The weights are created under the model's distribution strategy, so a
        model made in `strategy.scope()` and built lazily by `fit` has
        mirrored variables.
        """
        if not self.built:
            with self.distribute_strategy.scope():
                self.build((None,) + tuple(x.shape[1:]))

    def _sample(self, loc, scale, num_samples=None):
        """Reparameterized z = loc + scale * eps from the model's seed, with
        a leading axis of `num_samples` draws unless it is `None`."""
        shape = tuple(ops.shape(loc))
        if num_samples is not None:
            shape = (num_samples,) + shape
        return loc + scale * random.normal(shape, seed=self.seed_generator)

    def compute_terms(self, x, training=False):
        """Objective terms of a batch; see the class docstring."""
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The training loss of batch `x`: the negative objective plus `self.losses`.

        `y` and `y_pred` are ignored (the objective needs no target); the
        train and test steps use `compute_terms` directly to report metrics.
        """
        return self._total_terms(x, training)["loss"]

    def _total_terms(self, x, training):
        """`compute_terms` with the layers' `add_loss` terms in `"loss"`."""
        self._build_for_batch(x)
        terms = self.compute_terms(x, training=training)
        if self.constraint is not None:
            terms = self._lagrangian_terms(terms, training)
        if self.losses:
            terms["loss"] = terms["loss"] + ops.cast(
                ops.sum(self.losses), terms["loss"].dtype
            )
        return terms

    def _lagrangian_terms(self, terms, training):
        """Replace the loss by the Lagrangian beta KL + lambda (C - kappa^2).

        Both terms are batch means, like the ELBO loss -mean(rec - beta kl)
        they replace, so the gradient of each is exact.
        """
        c = -terms["reconstruction"]
        lam = self.constraint(c, training=training)
        beta = ops.cast(self.beta, "float32")
        terms = dict(terms)
        terms["loss"] = beta * terms["kl"] + lam * (c - self.constraint.kappa_squared)
        terms["lambda"] = lam
        terms["constraint"] = c
        terms["constraint_average"] = ops.convert_to_tensor(self.constraint.constraint_average)
        return terms

    def _objective_and_bound(self, rec, kl):
        """Per-example training objective and true bound from `(k, batch)` terms.

        `rec` is log p(x|z) and `kl` the KL term (or log q - log p) of each
        sample; the objective scales `kl` by `beta`, the bound does not. With
        `self.objective == "iwae"` both are log-mean-exps over the k samples,
        otherwise means.
        """
        beta = ops.cast(self.beta, "float32")
        if self.objective == "iwae":
            return iwae_bound(rec - beta * kl), iwae_bound(rec - kl)
        return ops.mean(rec - beta * kl, axis=0), ops.mean(rec - kl, axis=0)

    def log_importance_weights(self, x, num_samples):
        """`(num_samples, batch)` log weights log p(x, z_i) - log q(z_i | x)."""
        raise NotImplementedError

    def validate_data(self, x, name="x"):
        """Check a concrete batch: shape, finiteness and the likelihood's range.

        Returns the batch as a float32 numpy array.
        """
        x = check_batch(x, name)
        check_finite(x, name)
        data_shape = getattr(self, "data_shape", None)
        if self.built and data_shape is not None and tuple(x.shape[1:]) != data_shape:
            raise ValueError(
                f"Expected `{name}` of shape (batch,) + {data_shape}. "
                f"Received: {name}.shape={tuple(x.shape)}"
            )
        if self._data_support() is not None:
            check_unit_interval(x, name)
        return x

    def _data_support(self):
        """`(0, 1)` for likelihoods of intensities in [0, 1], else `None`."""
        likelihood = getattr(self, "likelihood", None)
        if isinstance(likelihood, (Bernoulli, DiscretizedLogistic)):
            return (0.0, 1.0)
        return None

    @staticmethod
    def _check_data_shape(input_shape):
        data_shape = tuple(input_shape[1:])
        if None in data_shape:
            raise ValueError(
                "Expected a fully defined data shape (all but the batch axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        return data_shape

    def _check_input(self, x):
        if self.built and tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"Expected inputs of shape (batch,) + {self.data_shape}. "
                f"Received: x.shape={tuple(x.shape)}"
            )

    def _check_built(self):
        if not self.built:
            raise ValueError("The model is not built yet: call or fit it first.")

    @staticmethod
    def _check_latent(z, dim, name="z"):
        z = ops.convert_to_tensor(z, "float32")
        if len(z.shape) != 2 or z.shape[-1] != dim:
            raise ValueError(
                f"Expected `{name}` of shape (batch, {dim}). "
                f"Received: {name}.shape={tuple(z.shape)}"
            )
        return z

    def log_likelihood(self, x, num_samples=5000, chunk_size=None):
        """Importance-sampled estimate of log p(x) per example (nats).

        ```none
        log p(x) ~= log (1/S) sum_{s=1..S} p(x, z_s) / q(z_s | x),  z_s ~ q(z | x)
        ```

        This is the IWAE bound with S samples: it is a lower bound whose
        expectation rises to log p(x) as S grows (Burda et al. use S = 5000).
        Samples are drawn in chunks and combined by a running log-sum-exp, so
        memory stays bounded whatever S is.

        Args:
            x: A batch of data, shape `(batch,) + input_shape`.
            num_samples: Positive integer S. Defaults to 5000.
            chunk_size: Samples per chunk. Defaults to a size that keeps the
                decoder output of a chunk near `likelihood_chunk_floats`.

        Returns:
            A float64 numpy array of shape `(batch,)`.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        x = self.validate_data(x)
        if chunk_size is None:
            per_sample = max(1, x.size)
            budget = self.likelihood_chunk_floats
            chunk_size = int(min(num_samples, max(1, budget // per_sample)))
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        fn = self._compiled("log_mean_weights_chunk", self._log_sum_weights)
        total, done = None, 0
        while done < num_samples:
            n = min(chunk_size, num_samples - done)
            part = np.asarray(fn(x, n), dtype="float64")
            total = part if total is None else np.logaddexp(total, part)
            done += n
        return total - math.log(num_samples)

    def _log_sum_weights(self, x, num_samples):
        return ops.logsumexp(self.log_importance_weights(x, num_samples), axis=0)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the data checked and a step guard.

        In-memory arrays (`x` and `validation_data`) are checked before
        training; streamed data (`tf.data`, generators) is checked inside the
        compiled step, where a bad batch skips its update. The callback
        `keras_vae.callbacks.TerminateOnNaN` is added unless given, and
        raises at the first bad step (see `TensorFlowTrainer`).

        `beta` ends at the value of the last epoch trained, even when a
        callback restores an earlier epoch's weights at the end of training
        (`keras.callbacks.EarlyStopping(restore_best_weights=True)`): it is
        schedule state (`keras_vae.callbacks.KLWarmUp`), not a learned
        weight. Monitor `val_elbo` (or `val_iwae_bound`) with `mode="max"`
        rather than `val_loss`, which under a KL warm-up favours the epochs
        with the smallest beta.
        """
        check_no_sample_weight(kwargs.get("sample_weight"), kwargs.get("class_weight"))
        self._validate_fit_data(args, kwargs)
        validation = kwargs.get("validation_data")
        if validation is not None:
            if isinstance(validation, (tuple, list)):
                check_no_sample_weight(validation[2] if len(validation) > 2 else None)
                validation = validation[0]
            self._validate_fit_data((validation,), {})
        # `beta` is schedule state, not a learned weight: a callback that
        # restores the best epoch's weights at the end of training
        # (`EarlyStopping(restore_best_weights=True)`) leaves it at the value
        # of the last epoch trained.
        callbacks = self._with_guard(callbacks)
        schedule = _ScheduleState()
        if isinstance(callbacks, list):
            callbacks.append(schedule)
        history = super().fit(*args, callbacks=callbacks, **kwargs)
        if schedule.beta is not None:
            self.beta.assign(schedule.beta)
        return history

    def evaluate(self, *args, callbacks=None, **kwargs):
        check_no_sample_weight(kwargs.get("sample_weight"))
        if not kwargs.get("_use_cached_eval_dataset"):  # fit checked it
            self._validate_fit_data(args, kwargs)
        return super().evaluate(*args, callbacks=self._with_guard(callbacks), **kwargs)

    def predict(self, *args, callbacks=None, **kwargs):
        self._validate_fit_data(args, kwargs)
        return super().predict(*args, callbacks=self._with_guard(callbacks), **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        return self._on_batch("train", super().train_on_batch, x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        return self._on_batch("test", super().test_on_batch, x, *args, **kwargs)

    def predict_on_batch(self, x):
        return self._on_batch("predict", super().predict_on_batch, x)

    def _on_batch(self, mode, method, x, *args, **kwargs):
        from keras_vae.callbacks.terminate_on_nan import step_guard_error

        check_no_sample_weight(kwargs.get("sample_weight"), kwargs.get("class_weight"))
        self._validate_fit_data((x,), {})
        guard = self._step_guard(mode)
        guard.reset()
        result = method(x, *args, **kwargs)
        report = guard.report()
        if report is not None:
            raise step_guard_error(self, mode, report)
        return result

    @staticmethod
    def _with_guard(callbacks):
        """`callbacks` with a `TerminateOnNaN` of ours, placed before any
        `keras.callbacks.TerminateOnNaN` (which sees only the loss)."""
        from keras_vae.callbacks.terminate_on_nan import TerminateOnNaN

        if isinstance(callbacks, keras.callbacks.CallbackList):
            return callbacks  # fit's own list, passed to its validation
        callbacks = list(callbacks or [])
        if not any(isinstance(c, TerminateOnNaN) for c in callbacks):
            theirs = [
                i for i, c in enumerate(callbacks)
                if isinstance(c, keras.callbacks.TerminateOnNaN)
            ]
            callbacks.insert(theirs[0] if theirs else len(callbacks), TerminateOnNaN())
        return callbacks

    def _validate_fit_data(self, args, kwargs):
        # In-memory arrays are checked up front; a dataset's element spec is
        # checked before tracing (dtype, shape, batched), its values inside
        # the step. Either way the model is built from the data's shape.
        x = args[0] if args else kwargs.get("x")
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            x = self.validate_data(x)
        elif hasattr(x, "element_spec") and hasattr(x, "_inputs"):
            x = self._check_dataset(x)
            if x is None:
                return
        else:
            return
        self._build_for_batch(x)

    def get_build_config(self):
        if not self.built or getattr(self, "data_shape", None) is None:
            return None
        return {"input_shape": (None,) + tuple(self.data_shape)}

    def build_from_config(self, config):
        if config and not self.built:
            self.build(tuple(config["input_shape"]))

    def get_config(self):
        config = {
            **super().get_config(),
            "beta": self.initial_beta,
            "dynamic_binarization": self.dynamic_binarization,
            "seed": self.seed,
        }
        if self.constraint is not None:
            config["constraint"] = keras.saving.serialize_keras_object(self.constraint)
        if self.objective is not None:
            config["objective"] = self.objective
        return config

    @classmethod
    def from_config(cls, config):
        # Sublayers (networks, prior, likelihood) are stored as Keras configs.
        config = {
            key: keras.saving.deserialize_keras_object(value)
            if isinstance(value, dict) and "class_name" in value
            else value
            for key, value in config.items()
        }
        return cls(**config)
