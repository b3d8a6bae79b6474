"""Autoencoder: the base of every keras_vae model (training loop and contract)."""

import inspect

import keras
import numpy as np
from keras import ops

from keras_vae.likelihoods.likelihood import is_binary
from keras_vae.likelihoods.likelihood import support_of
from keras_vae.trainers import BackendGuardedSteps
from keras_vae.trainers.compile_defaults import CompileDefaults
from keras_vae.trainers.fit_arguments import FitArguments
from keras_vae.utils import random
from keras_vae.utils import seed_streams
from keras_vae.utils.validation import check_batch
from keras_vae.utils.validation import check_condition
from keras_vae.utils.validation import check_condition_given
from keras_vae.utils.validation import check_feature_axes
from keras_vae.utils.validation import check_finite
from keras_vae.utils.validation import check_no_labels
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_one_input


class Autoencoder(
    seed_streams.SeedStateMixin, CompileDefaults, FitArguments, BackendGuardedSteps, keras.Model
):
    """Base class of keras_vae models: an encoder, a decoder and an objective.

    A subclass implements `build(input_shape)` (setting `self.data_shape`),
    `call(x, training)`, `compute_terms(x, training)` (the forward pass of
    the objective: per-example terms, never reduced over the batch), and
    the user API `encode`, `decode`, `reconstruct` and optionally `sample`.
    The terms of a batch of B examples are a dict of

    - `"loss"`, shape `(B,)`: each example's negative training objective,
      e.g. -(E_q[log p(x|z)] - beta KL) for the ELBO, the negative IWAE
      surrogate for the IWAE bound;
    - one entry per name in `metric_names`, shape `(B,)` if it has a value
      per example (the bound, `reconstruction`, `kl`, `kl_1`, ...; averaged
      over the k importance samples where there are k), or a scalar `()`
      for a statistic of the whole batch (a VQVAE's codebook `perplexity`).

    This class owns:

    - the train/test/predict steps (`keras_vae.trainers.GuardedSteps`,
      one class per Keras backend): a non-finite loss or
      gradient, or a batch outside the data's rules, skips the update and
      `fit` then stops with `keras_vae.callbacks.RaiseOnNonFinite`, keeping
      the last good weights;
    - `compute_loss`, the extension point of Keras and the one place where
      the terms are reduced over the batch and weighted: the step calls
      `terms = compute_terms(x)`, then `loss = compute_loss(x=x,
      y_pred=terms)`, and reports `loss` and the batch mean of every term
      (`compute_metrics`). Override it to weight the examples, here by
      their ink, without running the encoder again:

      ```python
      class InkWeighted(keras_vae.models.VAE):
          def compute_loss(self, x=None, y=None, y_pred=None,
                           sample_weight=None, training=True):
              # y_pred["loss"]: each example's negative ELBO, (batch,).
              w = ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)
              return ops.sum(w * y_pred["loss"]) / ops.sum(w)
      ```

      or call `super().compute_loss(...)` and add a term to its value;

    - optional dynamic binarization of each training batch, x ~ Bernoulli(x)
      (`preprocess`), for a likelihood of binary data only
      (`check_binarization`);
    - a `keras.random.SeedGenerator`, so steps compile with XLA;
    - the data checks of `fit`, `evaluate`, `predict` (`validate_data`),
      against the support the model's likelihood declares
      (`data_support`, from `keras_vae.likelihoods.Likelihood.support`).

    `predict(x)` is deterministic: it returns `reconstruct_tensors(x)`, the
    model's reconstruction (for the VAEs the mean of p(x | z) at the
    posterior mean z = E_q[z], equal to `reconstruct(x)`), so two calls
    return the same values. `evaluate`, like training, is a Monte Carlo
    estimate of the objective (z drawn from q(z | x) with the model's seed
    generator), so two calls differ by the estimate's noise.

    The serving contract (`serving_signatures()`) is what
    `keras_vae.export.export_for_serving` exports.

    A conditional model (`num_classes` set, e.g.
    `keras_vae.models.VAE(num_classes=10)`) models p(x | c) and takes its
    condition c as Keras takes targets: `fit(x, c)`, `evaluate(x, c)`,
    `validation_data=(x_val, c_val)`, `predict((x, c))`, a dataset or
    generator yielding `(x, c)`. c is integer class ids `(batch,)` in
    [0, num_classes), one-hot encoded inside, or float vectors
    `(batch, num_classes)` used as they are. In the steps the batch is then
    the pair `(x, c)`, c as float32 vectors (see `split_condition`): the
    hooks (`preprocess`, `compute_terms`, `compute_loss`,
    `reconstruct_tensors`) receive that pair as their `x`. A missing
    condition, or one of another dtype, shape or number of rows, or class
    ids out of range, is refused before any weight changes: in-memory
    arrays before training, a dataset's element spec before tracing; in a
    streamed batch an id out of range (or a non-finite vector) makes that
    step's loss non-finite, so the step guard skips its update and `fit`
    stops naming the batch.

    Attributes a subclass sets (declared here as `None`, read by this class):
        data_shape: The shape of one example, set by `build`.
        likelihood: The `keras_vae.likelihoods.Likelihood` of p(x | z), or
            `None` (a model without one, e.g. a squared-error VQVAE); its
            declared `support` and `binary` drive the data checks and
            dynamic binarization.
        num_classes: The width of the condition of a conditional model,
            `None` for an unconditional one.

    Args:
        metric_names: Names of the per-batch metrics besides `loss`.
        dynamic_binarization: If `True`, binarize each training batch by
            sampling x ~ Bernoulli(x) inside the step. Only for a likelihood
            of binary data (`binary = True`, e.g. `Bernoulli`): the models
            refuse it with any other at construction. Defaults to `False`.
        seed: Optional integer seed of all sampling in the model and of the
            initial weights of the networks and components the model builds
            itself. Each consumer gets its own stream, derived from the
            seed and the consumer's name; a
            component passed in with `seed=None` is given the model's stream
            for it, one with its own seed keeps it. Networks passed in keep
            their own initializers. The generator states are saved with the
            model (`.keras`, `save_weights`, `BackupAndRestore`).
        **kwargs: `keras.Model` keyword arguments such as `name`.
    """

    data_shape = None
    likelihood = None
    num_classes = None

    # `.keras` files and backups hold every generator state of the model,
    # those of foreign sublayers (a `Dropout` in a custom network) included.
    save_foreign_seed_states = True

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls, *args, **kwargs)
        # What the caller passed to the concrete class's constructor, for
        # `config_includes` (Keras records the values too, but only when all
        # are plain Python values). Strings only: `.keras` saving walks the
        # model's attributes for layers and variables.
        names, metric_names = _passed_arguments(cls, args, kwargs)
        object.__setattr__(instance, "_passed_argument_names", names)
        object.__setattr__(instance, "_passed_metric_names", metric_names)
        return instance

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

    def stream_seed(self, name):
        """The integer seed of stream `name`, for a `keras.random.SeedGenerator`
        a subclass adds (saved with the model like the others): a stream of
        `seed`, or without one of the model generator's own random seed, so
        that it draws nothing from Python's `random` (the default networks'
        initializers draw from it next).

        >>> model = keras_vae.models.VAE(latent_dim=2, seed=3)
        >>> model.stream_seed("mine") == model.stream_seed("mine")
        True
        """
        seed = self.seed
        if seed is None:
            seed = int(ops.convert_to_numpy(self.seed_generator.state)[0])
        return seed_streams.stream_seed(seed, name)

    def adopt_component(self, layer, name):
        """Give an unseeded component (prior, likelihood) stream `name`."""
        return seed_streams.adopt_seed(layer, self.seed, name)

    # ------------------------------------------------------- step contract
    @property
    def metrics(self):
        return list(self._trackers.values())

    def unpack(self, data):
        """The batch `x` of a step's `data` (`x`, `(x,)` or `(x, None)`).

        Called first by every train/test/predict step, when the step is
        traced, so it sees whatever the data arrived as. It refuses what the
        models cannot use (`sample_weight`, targets `y`, several inputs,
        batches without a feature axis), and builds an unbuilt model, and
        its optimizer, from the batch's shape: Keras builds a subclassed
        model when its step first calls it, but these steps call the
        objective (`compute_terms`), not the model. `fit`, `evaluate` and
        `predict` build the model before tracing from arrays, `tf.data`
        element specs, generators and `keras.utils.PyDataset`s, so this
        build serves the other inputs Keras takes (a torch `DataLoader`, a
        grain dataset); inside an XLA step it needs weights whose initial
        values TensorFlow can lift out of the step, which `VQVAE` and
        `VHPVAE` do not have (build them first, e.g. `model.build(shape)`).
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                "keras_vae models do not support `sample_weight`. "
                "Received: sample_weight of shape "
                f"{tuple(getattr(sample_weight, 'shape', ()))}"
            )
        if self.num_classes is None:
            check_no_labels(y)
        else:
            if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
                x, y = x  # `predict((x, c))`: Keras passes the pair as x
            check_condition_given(y, self.num_classes, "y")
        check_one_input(x)
        if not self.built:
            check_feature_axes(x.shape)  # a built model checks the shape itself
            # What Keras's `_symbolic_build` does before a step: the model,
            # then the optimizer (the step reads its loss scale; its update
            # sits in a `tf.cond`, where no variable may be created).
            self.build_for_batch(x)
            optimizer = getattr(self, "optimizer", None)
            if optimizer is not None and not optimizer.built:
                with self.strategy_scope():
                    optimizer.build(self.trainable_variables)
        if self.num_classes is not None:
            return x, self.condition_tensor(y, "y")
        return x

    # ----------------------------------------------------------- condition
    @staticmethod
    def split_condition(inputs):
        """`(x, c)` of a step's batch: a conditional model's pair `(x, c)`,
        or `(x, None)` for a batch `x` alone."""
        if isinstance(inputs, (tuple, list)):
            return inputs[0], inputs[1]
        return inputs, None

    def check_condition_spec(self, shape, dtype, name="y"):
        """Trace-time check of a condition's (or its `TensorSpec`'s) dtype
        and shape; returns whether it holds class ids (an integer dtype)."""
        dtype = keras.backend.standardize_dtype(dtype)
        shape = tuple(shape)
        ids = "int" in dtype
        if ids:
            valid = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
        else:
            valid = "float" in dtype and len(shape) == 2 and shape[1] == self.num_classes
        if not valid:
            raise ValueError(
                f"Expected `{name}` class ids (an integer dtype) of shape (batch,) in "
                f"[0, {self.num_classes}), or float condition vectors of shape "
                f"(batch, {self.num_classes}). Received: {name} of dtype {dtype}, "
                f"shape {shape}"
            )
        return ids

    def condition_tensor(self, c, name="y"):
        """A condition tensor as float32 vectors `(batch, num_classes)`.

        Class ids become one-hot rows; an id outside [0, num_classes)
        becomes a row of NaN, so whatever depends on it (the step's loss,
        a prediction) is not finite rather than silently unconditioned.
        """
        c = ops.convert_to_tensor(c)
        if self.check_condition_spec(c.shape, c.dtype, name):
            ids = ops.reshape(c, (-1,))
            valid = ops.logical_and(ids >= 0, ids < self.num_classes)
            one_hot = ops.one_hot(ops.where(valid, ids, 0), self.num_classes)
            nan = ops.full_like(one_hot, float("nan"))
            return ops.where(valid[:, None], one_hot, nan)
        return ops.cast(c, "float32")

    def data_flags(self, x):
        """`GuardedSteps.data_flags` of the data `x` (of a conditional
        model's pair `(x, c)`, those of `x`)."""
        return super().data_flags(self.split_condition(x)[0])

    def preprocess(self, x, training=False):
        """The batch the objective sees: x ~ Bernoulli(x) in training with
        `dynamic_binarization`, else `x` (a conditional model's pair `(x, c)`
        keeps its c)."""
        x, c = self.split_condition(x)
        if c is not None:
            return self.preprocess(x, training), c
        if training and self.dynamic_binarization:
            self.check_binarization()  # for models that did not at construction
            return self.binarize(x)
        return x

    def binarize(self, x):
        """Sample binary pixels x_b ~ Bernoulli(x) (dynamic binarization)."""
        u = random.uniform(ops.shape(x), seed=self.seed_generator)
        return ops.cast(u < ops.cast(x, "float32"), x.dtype)

    def check_binarization(self):
        """Raise a `ValueError` if `dynamic_binarization` is set and
        `self.likelihood` does not declare binary data (`binary`).

        Dynamic binarization turns real values into {0, 1} samples: with a
        `Gaussian` or `DiscretizedLogistic` likelihood it would silently
        change the data the model learns. The built-in models call this at
        construction; `preprocess` calls it when a training step is traced.
        """
        if not self.dynamic_binarization:
            return
        likelihood = getattr(self, "likelihood", None)
        if is_binary(likelihood):
            return
        received = (
            "None (no likelihood, e.g. the VQVAE's 'mse')"
            if likelihood is None
            else type(likelihood).__name__
        )
        raise ValueError(
            "Expected a likelihood of binary data (`binary = True`, e.g. "
            "'bernoulli') with `dynamic_binarization=True`, which trains on "
            "x ~ Bernoulli(x). Received: dynamic_binarization=True with "
            f"likelihood={received}. Use `dynamic_binarization=False` for "
            "real-valued data."
        )

    def compute_terms(self, x, training=False):
        """The forward pass of the objective: the per-example terms of `x`.

        For a batch of B examples, a dict with `"loss"`, shape `(B,)`, each
        example's negative training objective (the one training minimizes,
        with `beta` where the model has one), and one entry per name in
        `metric_names`: shape `(B,)` for a per-example value (averaged over
        the k importance samples where there are k), a scalar for a
        statistic of the whole batch. Nothing is reduced over the batch or
        weighted here: `compute_loss` does that, and `compute_metrics`
        reports each entry's batch mean.

        Args:
            x: The batch, `(B,) + data_shape`.
            training: Whether the step trains (networks in training mode).

        Returns:
            A dict of float32 tensors of shape `(B,)` or `()`.
        """
        raise NotImplementedError

    def reconstruct_tensors(self, x):
        """Graph hook: the deterministic reconstruction of a batch, what
        `predict` returns (and `reconstruct`, eagerly).

        The default, for a model with the graph hooks `encode_tensors(x) ->
        (loc, scale)` and `decode_tensors(z) -> mean`, is the mean of
        p(x | z) at the posterior mean, `decode_tensors(encode_tensors(x)[0])`;
        models with other latents override it. A model without these hooks
        returns its call, `self(x, training=False)`.
        """
        if not hasattr(self, "encode_tensors"):
            return self(x, training=False)
        x, c = self.split_condition(x)
        if c is not None:
            loc = self.encode_tensors(x, condition=c)[0]
            return self.decode_tensors(loc, condition=c)
        return self.decode_tensors(self.encode_tensors(x)[0])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The scalar training loss of batch `x`, from its per-example terms.

        ```none
        loss = (1/B) sum_n y_pred["loss"][n] + sum(self.losses)
        ```

        The one place where the terms of `compute_terms` are reduced over
        the batch and weighted (`self.losses` holds what layers add, e.g. a
        VQVAE's codebook loss or a regularizer). Override it to weight the
        examples or add a term (see the class docstring).

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
        loss = ops.mean(y_pred["loss"])
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), loss.dtype)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update each tracker with the batch mean of its entry of `y_pred`
        (the terms, `"loss"` being the value of `compute_loss`; a scalar
        entry is its own mean) and return their results."""
        for name, tracker in self._trackers.items():
            tracker.update_state(ops.mean(y_pred[name]))
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def data_support(self):
        """`(low, high)` of valid data values, or `None` for any finite value.

        The `support` declared by `self.likelihood` (see
        `keras_vae.likelihoods.Likelihood`): `(0.0, 1.0)` for `Bernoulli` and
        `DiscretizedLogistic`, `None` for `Gaussian` or without a likelihood.
        `fit`, `evaluate`, `predict`, the eager API and the exported serving
        signatures refuse data outside it.
        """
        return support_of(getattr(self, "likelihood", None))

    def check_support(self, x, name="x"):
        """Raise a `ValueError` if a concrete batch has values outside
        `data_support()`, or breaking a rule of the likelihood's own
        (`keras_vae.likelihoods.Likelihood.check_data`)."""
        if self.likelihood is not None:
            self.likelihood.check_data(x, name)
        support = self.data_support()
        if support is None:
            return
        low, high = support
        lo, hi = float(np.min(x)), float(np.max(x))
        if lo < low or hi > high:
            likelihood = type(getattr(self, "likelihood", None)).__name__
            raise ValueError(
                f"Expected `{name}` to lie in [{low:g}, {high:g}] (the support of "
                f"the model's {likelihood} likelihood). Received: {name} with "
                f"min={lo:g}, max={hi:g}. Rescale the data, e.g. x / 255 for "
                "8-bit images in [0, 1]."
            )

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
        self.check_support(x, name)
        return x

    def build_for_batch(self, x):
        """Build from a batch (array, tensor or `TensorSpec`) if not built.

        On TensorFlow the weights are created under the model's
        distribution strategy (`strategy_scope()`), so a model made in
        `strategy.scope()` and built lazily by `fit` has mirrored variables.
        """
        x = self.split_condition(x)[0]
        if not self.built:
            with self.strategy_scope():
                self.build((None,) + tuple(x.shape[1:]))

    def prepare(self, x):
        """`validate_data(x)`, building the model from it if needed: the
        first line of the eager user API (`encode`, `reconstruct`, ...)."""
        x = self.validate_data(x)
        self.build_for_batch(x)
        return x

    def prepare_condition(self, condition, batch_size, name="condition"):
        """The eager API's `condition` as float32 vectors `(batch_size,
        num_classes)` (`keras_vae.utils.validation.check_condition`), or
        `None` for an unconditional model, which refuses one."""
        if self.num_classes is None:
            check_no_labels(condition, name)
            return None
        return check_condition(condition, self.num_classes, batch_size, name)

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

        A conditional model (`num_classes` set) takes its condition as the
        input `condition`, float32 `(batch, num_classes)` (one-hot rows for
        class ids), after the data or latent input; `sample` then draws one
        z ~ p(z) per row of the condition instead of taking a count:

        ```none
        encode(x, condition)       -> {"loc", "scale"}   of q(z | x, c)
        decode(z, condition)       -> {"mean"}           of p(x | z, c)
        reconstruct(x, condition)  -> {"mean"}
        sample(condition)          -> {"mean", "z"}
        ```

        Override it (or extend `super().serving_signatures()`) for other
        latents.
        """
        if self.num_classes is not None:
            return self._conditional_signatures()
        data = ("x", (None,) + tuple(self.data_shape), "float32")
        latent = ("z", (None, self.latent_dim), "float32")

        def encode(x):
            loc, scale = self.encode_tensors(x)
            return {"loc": loc, "scale": scale}

        def reconstruct(x):
            return {"mean": self.reconstruct_tensors(x)}

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

    def _conditional_signatures(self):
        """`serving_signatures()` of a conditional model."""
        data = ("x", (None,) + tuple(self.data_shape), "float32")
        latent = ("z", (None, self.latent_dim), "float32")
        condition = ("condition", (None, self.num_classes), "float32")

        def encode(x, condition):
            loc, scale = self.encode_tensors(x, condition=condition)
            return {"loc": loc, "scale": scale}

        def decode(z, condition):
            return {"mean": self.decode_tensors(z, condition=condition)}

        def reconstruct(x, condition):
            return {"mean": self.reconstruct_tensors((x, condition))}

        def sample(condition):
            z = self.sample_tensors(ops.shape(condition)[0])
            return {"mean": self.decode_tensors(z, condition=condition), "z": z}

        return {
            "encode": (encode, [data, condition]),
            "decode": (decode, [latent, condition]),
            "reconstruct": (reconstruct, [data, condition]),
            "sample": (sample, [condition]),
        }

    # Private Keras hook, kept: TF's SavedModel writer traces every `tf.function`
    # attribute of a tracked model (`export`, `ExportArchive`), no public route.
    @property
    def _default_save_signature(self):
        """Keras's hook (TensorFlow backend) for the default SavedModel
        signature, which calls the model on the built data shape. A
        conditional model's call takes the pair `(x, c)`, so its default
        signature takes that pair."""
        if self.num_classes is None or not self.built:
            return super()._default_save_signature
        import tensorflow as tf

        pair = (
            tf.TensorSpec((None,) + tuple(self.data_shape), "float32"),
            tf.TensorSpec((None, self.num_classes), "float32"),
        )

        @tf.function(input_signature=(pair,))
        def serving_default(inputs):
            return self(inputs)

        return serving_default

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """`keras.Model.export`, with the input signature of the built model.

        Keras infers a subclassed model's input signature from its first
        call, which training never makes (the steps call `compute_terms`,
        not the model): after `fit` alone its export fails with "The model
        provided has never called". Here `input_signature` defaults to
        `[keras.InputSpec((None,) + data_shape, "float32")]`, so a built
        model exports after `fit`, after `build(input_shape)` or after
        loading, as well as after a call.

        The artifact's endpoint `serve(x)` runs `call(x, training=False)`,
        what `predict` returns: the deterministic reconstruction. For the
        encoder, decoder, sampler and log-likelihood as named signatures,
        each with input checks, use `keras_vae.export.export_for_serving`.

        Args:
            filepath: Path of the artifact.
            format: Keras's export format. Defaults to `"tf_saved_model"`.
            verbose: Whether to print a message (Keras's default if `None`).
            input_signature: Optional input signature; defaults to the built
                data shape (see above).
            **kwargs: Passed to `keras.Model.export`.
        """
        self.check_built()
        data_shape = getattr(self, "data_shape", None)
        if input_signature is None and data_shape is not None:
            input_signature = [keras.InputSpec(shape=(None,) + tuple(data_shape), dtype="float32")]
        return super().export(
            filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
        )

    # -------------------------------------------------------------- config
    def get_build_config(self):
        if not self.built or getattr(self, "data_shape", None) is None:
            return None
        return {"input_shape": (None,) + tuple(self.data_shape)}

    def build_from_config(self, config):
        if config and not self.built:
            self.build(tuple(config["input_shape"]))

    def config_includes(self, name):
        """Whether `get_config` holds `name`, an argument of a contract base.

        The contract bases (`Autoencoder`, `LatentVariableModel`) take
        arguments that a subclass may fix itself, as the IWAE of
        `examples/custom_model` does with
        `super().__init__(objective="iwae", metric_names=..., **kwargs)`.
        Such an argument in the config would reach the base twice when
        `from_config` calls `cls(**config)` (`TypeError: got multiple values
        for keyword argument`). So it goes into the config only if

        - the caller passed it to the model's constructor (it then flows
          through `**kwargs`), or
        - the `__init__` of the model's class, or of a class between it and
          the contract bases, names it as a parameter: a class that takes an
          argument passes it on (`VAE` takes `beta`; `VHPVAE` forwards it to
          `VAE` through `**kwargs`).

        Otherwise the class fixes or defaults the argument itself, and
        rebuilding the model without it gives the same model. A subclass
        that fixes an argument its parent model names (as `VHPVAE` fixes
        `VAE`'s `analytic_kl`) drops it in its own `get_config`, the Keras
        convention.
        """
        if name in getattr(self, "_passed_argument_names", ()):
            return True
        bases = _contract_bases()
        for klass in type(self).__mro__:
            if klass in bases:
                return False
            init = vars(klass).get("__init__")
            if init is not None and name in inspect.signature(init).parameters:
                return True
        return False

    def get_config(self):
        """`keras.Model`'s config and the arguments of this base that the
        model's class takes from its caller (see `config_includes`):
        `dynamic_binarization`, `seed` and, when the caller passed them,
        `metric_names`."""
        config = super().get_config()
        for name, value in (
            ("dynamic_binarization", self.dynamic_binarization),
            ("seed", self.seed),
        ):
            if self.config_includes(name):
                config[name] = value
        # The caller's own value: a class may extend the names it receives.
        metric_names = getattr(self, "_passed_metric_names", None)
        if metric_names is not None:
            config["metric_names"] = list(metric_names)
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


def _contract_bases():
    """The bases whose arguments a subclass may fix (see `config_includes`)."""
    from keras_vae.models.latent_variable_model import LatentVariableModel

    return (Autoencoder, LatentVariableModel)


def _passed_arguments(cls, args, kwargs):
    """Names of the arguments a caller passed to `cls(*args, **kwargs)`
    (positional ones by their parameter name), and its `metric_names` or
    `None`."""
    try:
        spec = inspect.getfullargspec(cls.__init__)
        bound = dict(inspect.signature(cls.__init__).bind(None, *args, **kwargs).arguments)
        bound.pop(spec.args[0], None)
        bound.update(bound.pop(spec.varkw, None) or {})
    except TypeError:  # `__init__` raises its own error next
        bound = dict(kwargs)
    metric_names = bound.get("metric_names")
    try:
        metric_names = None if metric_names is None else tuple(str(n) for n in metric_names)
    except TypeError:  # not a sequence: `__init__` raises next
        metric_names = None
    return frozenset(bound), metric_names
