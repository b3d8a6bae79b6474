"""Autoencoder: the base of every keras_vae model (training loop and contract)."""

import inspect

import keras
import numpy as np
from keras import ops

from keras_vae.likelihoods.bernoulli import Bernoulli
from keras_vae.likelihoods.discretized_logistic import DiscretizedLogistic
from keras_vae.models.guarded_steps import GuardedSteps
from keras_vae.utils import input_pipeline
from keras_vae.utils import random
from keras_vae.utils import seed_streams
from keras_vae.utils.validation import check_batch
from keras_vae.utils.validation import check_finite
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_unit_interval


class Autoencoder(seed_streams.SeedStateMixin, GuardedSteps, keras.Model):
    """Base class of keras_vae models: an encoder, a decoder and an objective.

    A subclass implements `build(input_shape)` (setting `self.data_shape`),
    `call(x, training)`, `compute_terms(x, training)` (a dict with a scalar
    `"loss"`, the batch mean of the negative objective, and one batch-mean
    scalar per metric named in `metric_names`), and the user API `encode`,
    `decode`, `reconstruct` and optionally `sample`. This class owns:

    - the train/test/predict steps (`GuardedSteps`): a non-finite loss or
      gradient, or a batch outside the data's rules, skips the update and
      `fit` then stops with `keras_vae.callbacks.RaiseOnNonFinite`, keeping
      the last good weights;
    - `compute_loss`, the extension point of Keras: the step calls
      `terms = compute_terms(x)`, then `compute_loss(x=x, y_pred=terms)`,
      and reports its value as the metric `loss`. Override it to add a term:

      ```python
      class Penalized(keras_vae.models.VAE):
          def compute_loss(self, x=None, y=None, y_pred=None,
                           sample_weight=None, training=True):
              loss = super().compute_loss(x, y, y_pred, sample_weight, training)
              return loss + 0.1 * ops.mean(ops.square(self.encode_tensors(x)[0]))
      ```

    - optional dynamic binarization of each training batch, x ~ Bernoulli(x)
      (`preprocess`);
    - a `keras.random.SeedGenerator`, so steps compile with XLA;
    - the data checks of `fit`, `evaluate`, `predict` (`validate_data`).

    The serving contract (`serving_signatures()`) is what
    `keras_vae.export.export_for_serving` exports.

    Args:
        metric_names: Names of the per-batch metrics besides `loss`.
        dynamic_binarization: If `True`, binarize each training batch by
            sampling x ~ Bernoulli(x) inside the step. Defaults to `False`.
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

    def __init__(self, metric_names=(), dynamic_binarization=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dynamic_binarization = bool(dynamic_binarization)
        self.seed = seed
        # One stream per consumer of `seed` (see `keras_vae.utils.seed_streams`).
        self.seed_generator = keras.random.SeedGenerator(
            seed_streams.stream_seed(seed, "model"), name="model_seed_generator"
        )
        self._metric_names = ("loss",) + tuple(metric_names)
        self._trackers = {n: keras.metrics.Mean(name=n) for n in self._metric_names}

    # ------------------------------------------------- construction helpers
    def seeded_scope(self, name):
        """Context in which layers built for the model take their initial
        weights from stream `name` of the model's seed."""
        return seed_streams.seeded_construction(self.seed, name)

    def adopt_component(self, layer, name):
        """Give an unseeded component (prior, likelihood) stream `name`."""
        return seed_streams.adopt_seed(layer, self.seed, name)

    # ------------------------------------------------------- step contract
    @property
    def metrics(self):
        return list(self._trackers.values())

    def unpack(self, data):
        """The batch `x` of a step's `data` (`x`, `(x,)` or `(x, y)`);
        `sample_weight` is refused."""
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                "keras_vae models do not support `sample_weight`. "
                "Received: sample_weight of shape "
                f"{tuple(getattr(sample_weight, 'shape', ()))}"
            )
        return x

    def preprocess(self, x, training=False):
        """The batch the objective sees: x ~ Bernoulli(x) in training with
        `dynamic_binarization`, else `x`."""
        if training and self.dynamic_binarization:
            return self.binarize(x)
        return x

    def binarize(self, x):
        """Sample binary pixels x_b ~ Bernoulli(x) (dynamic binarization)."""
        u = random.uniform(ops.shape(x), seed=self.seed_generator)
        return ops.cast(u < ops.cast(x, "float32"), x.dtype)

    def compute_terms(self, x, training=False):
        """Objective terms of a batch; see the class docstring."""
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The scalar training loss of batch `x`: `y_pred["loss"]` plus `self.losses`.

        Args:
            x: The batch.
            y: Ignored (the objective needs no target).
            y_pred: The dict of `compute_terms(x, training)`; computed here
                if `None`.
            sample_weight: Must be `None`.
            training: Whether the step trains.

        Returns:
            A scalar tensor. The train and test steps report it as `loss`.
        """
        check_no_sample_weight(sample_weight)
        if y_pred is None:
            self.build_for_batch(x)
            y_pred = self.compute_terms(x, training=training)
        loss = self.objective_loss(y_pred, training=training)
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), loss.dtype)
        return loss

    def objective_loss(self, terms, training=True):
        """The loss of the model's objective from its terms: `terms["loss"]`."""
        return terms["loss"]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the trackers from `y_pred` (the terms, `"loss"` being the
        value of `compute_loss`) and return their results."""
        for name, tracker in self._trackers.items():
            tracker.update_state(y_pred[name])
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def data_support(self):
        """`(0, 1)` for likelihoods of intensities in [0, 1], else `None`."""
        likelihood = getattr(self, "likelihood", None)
        if isinstance(likelihood, (Bernoulli, DiscretizedLogistic)):
            return (0.0, 1.0)
        return None

    # --------------------------------------------------------------- checks
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
        if self.data_support() is not None:
            check_unit_interval(x, name)
        return x

    def build_for_batch(self, x):
        """Build from a batch (array, tensor or `TensorSpec`) if not built.

        The weights are created under the model's distribution strategy, so a
        model made in `strategy.scope()` and built lazily by `fit` has
        mirrored variables.
        """
        if not self.built:
            with self.distribute_strategy.scope():
                self.build((None,) + tuple(x.shape[1:]))

    def prepare(self, x):
        """`validate_data(x)`, building the model from it if needed: the
        first line of the eager user API (`encode`, `reconstruct`, ...)."""
        x = self.validate_data(x)
        self.build_for_batch(x)
        return x

    @staticmethod
    def check_data_shape(input_shape):
        """The data shape `input_shape[1:]`, which must be fully defined."""
        data_shape = tuple(input_shape[1:])
        if None in data_shape:
            raise ValueError(
                "Expected a fully defined data shape (all but the batch axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        return data_shape

    def check_input(self, x):
        """Trace-time check that `x` has the built data shape."""
        if self.built and tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"Expected inputs of shape (batch,) + {self.data_shape}. "
                f"Received: x.shape={tuple(x.shape)}"
            )

    def check_built(self):
        """Raise a clear error if the model has no weights yet."""
        if not self.built:
            raise ValueError("The model is not built yet: call or fit it first.")

    @staticmethod
    def check_latent(z, dim, name="z"):
        """`z` as a float32 tensor, checked to be of shape `(batch, dim)`."""
        z = ops.convert_to_tensor(z, "float32")
        if len(z.shape) != 2 or z.shape[-1] != dim:
            raise ValueError(
                f"Expected `{name}` of shape (batch, {dim}). "
                f"Received: {name}.shape={tuple(z.shape)}"
            )
        return z

    # -------------------------------------------------------------- serving
    def serving_signatures(self):
        """The TF Serving signatures of the model: `{name: (fn, inputs)}`.

        `fn` is a graph function of tensors returning a dict of outputs and
        `inputs` its inputs as `(name, shape, dtype)` triples, in order.
        `keras_vae.export.export_for_serving` checks each input by its name
        (`x`: data, `num_samples`: a positive count, `indices`: a code map,
        any other: a latent batch) and exports the functions. The default,
        for a model with a `(batch, latent_dim)` latent, is built from the
        graph hooks `encode_tensors(x) -> (loc, scale)` and
        `decode_tensors(z) -> mean`, and `sample_tensors(n) -> z` if the
        model defines it:

        ```none
        encode(x)            -> {"loc", "scale"}
        decode(z)            -> {"mean"}
        reconstruct(x)       -> {"mean"}     at z = loc
        sample(num_samples)  -> {"mean", "z"}
        ```

        Override it (or extend `super().serving_signatures()`) for other
        latents.
        """
        data = ("x", (None,) + tuple(self.data_shape), "float32")
        latent = ("z", (None, self.latent_dim), "float32")

        def encode(x):
            loc, scale = self.encode_tensors(x)
            return {"loc": loc, "scale": scale}

        def reconstruct(x):
            return {"mean": self.decode_tensors(self.encode_tensors(x)[0])}

        signatures = {
            "encode": (encode, [data]),
            "decode": (lambda z: {"mean": self.decode_tensors(z)}, [latent]),
            "reconstruct": (reconstruct, [data]),
        }
        if hasattr(self, "sample_tensors"):

            def sample(num_samples):
                z = self.sample_tensors(num_samples)
                return {"mean": self.decode_tensors(z), "z": z}

            signatures["sample"] = (sample, [("num_samples", (), "int32")])
        return signatures

    # ------------------------------------------------------------- compile
    # Steps per call of the compiled train function by default: one Python
    # dispatch per step costs a large share of a ~5-10 ms CPU step
    # (benchmarks/RESULTS.md §11).
    default_steps_per_execution = 25

    def compile(
        self, optimizer="rmsprop", *args, steps_per_execution="auto", jit_compile="auto", **kwargs
    ):
        """`keras.Model.compile`, with defaults chosen for these models.

        - `jit_compile="auto"` means XLA (`True`) whenever the model runs on
          one replica, CPU included; Keras's own `"auto"` turns XLA off on
          CPU-only machines, where it is 1.1-1.2x faster for these steps.
          Under a multi-replica strategy it stays off (XLA cannot read
          variables mirrored over logical devices).
        - `steps_per_execution="auto"` means `default_steps_per_execution`
          (25) steps per call on one replica, 1 under a multi-replica
          strategy (keras-team/keras#19246). Callbacks then see batch ends
          every 25 steps; epoch-level callbacks are unaffected, and the
          non-finite guard still stops at the first bad step.

        Pass explicit values to override either.
        """
        single = self.distribute_strategy.num_replicas_in_sync == 1
        run_eagerly = kwargs.get("run_eagerly", False)
        if jit_compile == "auto":
            jit_compile = single and not run_eagerly
        if steps_per_execution == "auto":
            steps_per_execution = self.default_steps_per_execution if single else 1
        super().compile(
            optimizer,
            *args,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
            **kwargs,
        )

    def compile_from_config(self, config):
        """Compile from `get_compile_config()` when a saved model is loaded.

        Keras skips this step for models that override `compile` unless
        they override it too; the config holds the resolved values, so the
        loaded model compiles as the saved one was.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:  # create the optimizer's variables, restored next
            self.optimizer.build(self.trainable_variables)

    # ---------------------------------------------------------- fit & co.
    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the data checked and a step guard.

        In-memory arrays (`x` and `validation_data`) are checked before
        training; streamed data (`tf.data`, generators) is checked inside the
        compiled step, where a bad batch skips its update. The callback
        `keras_vae.callbacks.RaiseOnNonFinite` is added unless given, and
        raises at the first bad step (see `GuardedSteps`).

        Arrays are fed through `keras_vae.utils.input_pipeline.array_dataset`
        (the batches Keras would make, `validation_split` taken from the end
        as Keras does) and datasets get tf.data autotuning turned off unless
        their options set it: Keras's per-epoch iterators otherwise end every
        epoch waiting for the autotuner's sleep (see that module).
        """
        arguments = _bind(keras.Model.fit, args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"), arguments.get("class_weight"))
        x = self._validate_fit_data(arguments.get("x"))
        validation = arguments.get("validation_data")
        if isinstance(validation, (tuple, list)):
            check_no_sample_weight(validation[2] if len(validation) > 2 else None)
            if len(validation) == 1 or validation[1] is None:
                validation = validation[0]
        validation = self._validate_fit_data(validation)
        if _is_array(x) and not _keras_feeds_arrays(arguments):
            split = arguments.pop("validation_split", 0.0)
            if split and validation is None:
                at = int(np.floor(len(x) * (1.0 - split)))
                x, validation = x[:at], x[at:]
            batch_size = arguments.pop("batch_size", None)
            shuffle = arguments.get("shuffle", True)
            arguments["x"] = input_pipeline.array_dataset(x, batch_size, shuffle)
            arguments["shuffle"] = False  # the dataset shuffles
            if _is_array(validation):
                validation_batch_size = arguments.pop("validation_batch_size", None)
                validation = input_pipeline.array_dataset(
                    validation, validation_batch_size or batch_size
                )
        else:
            arguments["x"] = input_pipeline.without_autotune(arguments.get("x"))
        if validation is not None:
            arguments["validation_data"] = input_pipeline.without_autotune(validation)
        return super().fit(callbacks=self._with_guard(callbacks), **arguments)

    def evaluate(self, *args, callbacks=None, **kwargs):
        arguments = _bind(keras.Model.evaluate, args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"))
        if not arguments.get("_use_cached_eval_dataset"):  # fit checked it
            arguments["x"] = self._pipeline(self._validate_fit_data(arguments.get("x")), arguments)
        return super().evaluate(callbacks=self._with_guard(callbacks), **arguments)

    def predict(self, *args, callbacks=None, **kwargs):
        arguments = _bind(keras.Model.predict, args, kwargs)
        arguments["x"] = self._pipeline(self._validate_fit_data(arguments.get("x")), arguments)
        return super().predict(callbacks=self._with_guard(callbacks), **arguments)

    @staticmethod
    def _pipeline(x, arguments):
        """The dataset `evaluate`/`predict` iterate over `x` (see `fit`)."""
        if _is_array(x) and not _keras_feeds_arrays(arguments):
            return input_pipeline.array_dataset(x, arguments.pop("batch_size", None))
        return input_pipeline.without_autotune(x)

    def train_on_batch(self, x, *args, **kwargs):
        return self._on_batch("train", super().train_on_batch, x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        return self._on_batch("test", super().test_on_batch, x, *args, **kwargs)

    def predict_on_batch(self, x):
        return self._on_batch("predict", super().predict_on_batch, x)

    def _on_batch(self, mode, method, x, *args, **kwargs):
        from keras_vae.callbacks.raise_on_non_finite import step_guard_error

        check_no_sample_weight(kwargs.get("sample_weight"), kwargs.get("class_weight"))
        self._validate_fit_data(x)
        guard = self.step_guard(mode)
        guard.reset()
        result = method(x, *args, **kwargs)
        report = guard.report()
        if report is not None:
            raise step_guard_error(self, mode, report)
        return result

    @staticmethod
    def _with_guard(callbacks):
        """`callbacks` with a `RaiseOnNonFinite`, placed before any
        `keras.callbacks.TerminateOnNaN` (which sees only the loss)."""
        from keras_vae.callbacks.raise_on_non_finite import RaiseOnNonFinite

        if isinstance(callbacks, keras.callbacks.CallbackList):
            return callbacks  # fit's own list, passed to its validation
        callbacks = list(callbacks or [])
        if not any(isinstance(c, RaiseOnNonFinite) for c in callbacks):
            theirs = [
                i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.TerminateOnNaN)
            ]
            callbacks.insert(theirs[0] if theirs else len(callbacks), RaiseOnNonFinite())
        return callbacks

    def _validate_fit_data(self, x):
        """`x` checked (arrays become float32 NumPy), the model built from it.

        In-memory arrays are checked up front; a dataset's element spec is
        checked before tracing (dtype, shape, batched), its values inside
        the step.
        """
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            x = self.validate_data(x)
            self.build_for_batch(x)
        elif _is_dataset(x):
            spec = self.check_dataset(x)
            if spec is not None:
                self.build_for_batch(spec)
        return x

    # -------------------------------------------------------------- config
    def get_build_config(self):
        if not self.built or getattr(self, "data_shape", None) is None:
            return None
        return {"input_shape": (None,) + tuple(self.data_shape)}

    def build_from_config(self, config):
        if config and not self.built:
            self.build(tuple(config["input_shape"]))

    def get_config(self):
        return {
            **super().get_config(),
            "dynamic_binarization": self.dynamic_binarization,
            "seed": self.seed,
        }

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


def _bind(method, args, kwargs):
    """`method`'s arguments by name, as a caller of `method` passed them."""
    arguments = inspect.signature(method).bind(None, *args, **kwargs).arguments
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return arguments


def _is_array(x):
    return isinstance(x, np.ndarray)


def _is_dataset(x):
    return hasattr(x, "element_spec") and hasattr(x, "cardinality")


def _keras_feeds_arrays(arguments):
    # Cases our pipeline does not reproduce are left to Keras: labels, a
    # fixed number of steps (Keras then reuses one iterator across epochs)
    # and batch-wise shuffling.
    return (
        arguments.get("y") is not None
        or arguments.get("steps_per_epoch") is not None
        or arguments.get("steps") is not None
        or arguments.get("shuffle", True) not in (True, False)
    )
