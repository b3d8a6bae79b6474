"""FitArguments: a user's `fit`/`evaluate`/`predict` call, checked."""

import types

import keras
import numpy as np
from keras import ops

from keras_vae.trainers.guarded_steps import bind_arguments
from keras_vae.utils import input_pipeline
from keras_vae.utils.validation import check_batch
from keras_vae.utils.validation import check_condition
from keras_vae.utils.validation import check_condition_given
from keras_vae.utils.validation import check_feature_axes
from keras_vae.utils.validation import check_no_labels
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_one_input


class FitArguments:
    """Mixin with the `fit`, `evaluate`, `predict` and `*_on_batch` of
    keras_vae models, a base of `keras_vae.models.Autoencoder`.

    It turns a user's call into what the steps take: the data checked
    before any weight changes (in-memory arrays up front, a dataset's
    element spec before tracing, a generator's first batch), arrays fed
    through `keras_vae.utils.input_pipeline`, a conditional model's
    condition c taken as Keras takes targets (`fit(x, c)`, a stream of
    `(x, c)`), and the callbacks given a `keras_vae.callbacks.RaiseOnNonFinite`
    (and a `SeedDatasetEpochs` for a `keras_vae.datasets.load` stream).

    The model it is mixed into provides these hooks:

    - `num_classes`: the width of the condition, `None` if unconditional;
    - `validate_data(x, name)`: a concrete batch checked, as float32 NumPy;
    - `build_for_batch(x)`: builds the model from a batch if not built;
    - `check_dataset(dataset, name)`, `check_condition_spec(shape, dtype,
      name)`: trace-time checks of a dataset's element spec;
    - `step_guard(mode)` and `sync_state()`: the step guard `*_on_batch`
      reads (`keras_vae.trainers.GuardedSteps`).
    """

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the data checked and a step guard.

        `x` is one input without targets: an array `(batch, features...)`, a
        `tf.data.Dataset`, a Python generator or a `keras.utils.PyDataset`
        yielding `x` or `(x,)`; `validation_data` is `x_val` or `(x_val,)`.
        Targets `y` (unless the model is conditional, when `y` is its
        condition c: see the class docstring), several input arrays
        and 1-D data `(N,)` are refused with a `ValueError` before any
        weight changes. An unbuilt model is built from the first batch
        (for a generator or `PyDataset`, peeked as Keras's data adapters
        do). In-memory arrays (`x` and `validation_data`) are checked before
        training; streamed data (`tf.data`, generators) is checked inside the
        compiled step, where a bad batch skips its update. The callback
        `keras_vae.callbacks.RaiseOnNonFinite` is added unless given, and
        raises at the first bad step (see `keras_vae.trainers.GuardedSteps`).

        Arrays are fed through a `tf.data` pipeline of their batches (on
        JAX, NumPy batches: `keras_vae.utils.array_batches.ArrayBatches`),
        the batches Keras would make, `validation_split` taken from the end
        as Keras does; datasets get tf.data autotuning turned off unless
        their options set it: Keras's per-epoch iterators otherwise end every
        epoch waiting for the autotuner's sleep (see
        `keras_vae.utils.input_pipeline`).
        """
        arguments = bind_arguments(keras.Model.fit, args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"), arguments.get("class_weight"))
        if self.num_classes is not None:
            return self._fit_conditional(arguments, callbacks)
        check_no_labels(arguments.get("y"))
        x = self._validate_fit_data(arguments.get("x"))
        validation = arguments.get("validation_data")
        if isinstance(validation, (tuple, list)):  # (x,), (x, y) or (x, y, sample_weight)
            check_no_sample_weight(validation[2] if len(validation) > 2 else None)
            if len(validation) > 1:
                check_no_labels(validation[1], "validation_data[1]")
            validation = validation[0]
        validation = self._validate_fit_data(validation, "validation_data")
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
            arguments["x"] = input_pipeline.without_autotune(x)
        if validation is not None:
            arguments["validation_data"] = input_pipeline.without_autotune(validation)
        return super().fit(callbacks=self._with_guard(callbacks, x, validation), **arguments)

    def _fit_conditional(self, arguments, callbacks):
        """`fit` of a conditional model: `x` with its condition `y`, or a
        stream of `(x, c)`; Keras feeds the checked arrays."""
        x, y = self._validate_conditional(arguments.get("x"), arguments.get("y"))
        arguments["x"], arguments["y"] = input_pipeline.without_autotune(x), y
        validation = arguments.get("validation_data")
        if isinstance(validation, (tuple, list)):  # (x, c) or (x, c, sample_weight)
            check_no_sample_weight(validation[2] if len(validation) > 2 else None)
            validation = self._validate_conditional(
                validation[0],
                validation[1] if len(validation) > 1 else None,
                "validation_data[0]",
                "validation_data[1]",
            )
            arguments["validation_data"] = validation
        elif validation is not None:
            validation, _ = self._validate_conditional(validation, None, "validation_data")
            arguments["validation_data"] = input_pipeline.without_autotune(validation)
        return super().fit(callbacks=self._with_guard(callbacks, x, validation), **arguments)

    def _validate_conditional(self, x, y, name="x", y_name="y"):
        """`(x, c)` of a conditional model checked, the model built from `x`.

        Arrays need their condition `y` (checked and returned as float32
        vectors); a pair `(x, c)` of arrays passed as `x` (`predict`) is
        split. A stream (dataset, generator, `PyDataset`) yields `(x, c)`
        itself, so `y` must be `None`; its element spec (or first batch) is
        checked before the step is traced, its values in the step.
        """
        if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
            x, y = x
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            check_condition_given(y, self.num_classes, y_name)
            x = self.validate_data(x, name)
            self.build_for_batch(x)
            return x, check_condition(y, self.num_classes, len(x), y_name)
        if y is not None:
            raise ValueError(
                f"Expected the condition inside `{name}` (a dataset or generator "
                f"yielding `(x, c)`), not in `{y_name}`. Received: {name} of type "
                f"{type(x).__name__} and {y_name} of shape {getattr(y, 'shape', None)}"
            )
        if _is_dataset(x):
            spec_x, spec_y, spec_weight = keras.utils.unpack_x_y_sample_weight(x.element_spec)
            check_no_sample_weight(spec_weight)
            check_condition_given(spec_y, self.num_classes, y_name)
            check_one_input(spec_x, name)
            self.check_condition_spec(spec_y.shape, spec_y.dtype, y_name)
            spec = self.check_dataset(x, name)
            if spec is not None:
                check_feature_axes(spec.shape, name)
                self.build_for_batch(spec)
        else:
            first, x = _peek(x)
            if first is not None:
                batch, c, sample_weight = keras.utils.unpack_x_y_sample_weight(first)
                check_no_sample_weight(sample_weight)
                check_condition(c, self.num_classes, len(batch), y_name)
                self.build_for_batch(check_batch(batch, name))
        return x, None

    def evaluate(self, *args, callbacks=None, **kwargs):
        arguments = bind_arguments(keras.Model.evaluate, args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"))
        if self.num_classes is not None:
            if not arguments.get("_use_cached_eval_dataset"):
                x, y = self._validate_conditional(arguments.get("x"), arguments.get("y"))
                arguments["x"], arguments["y"] = input_pipeline.without_autotune(x), y
            return super().evaluate(callbacks=self._with_guard(callbacks), **arguments)
        check_no_labels(arguments.get("y"))
        if not arguments.get("_use_cached_eval_dataset"):  # fit checked it
            arguments["x"] = self._pipeline(self._validate_fit_data(arguments.get("x")), arguments)
        return super().evaluate(callbacks=self._with_guard(callbacks), **arguments)

    def predict(self, *args, callbacks=None, **kwargs):
        """`keras.Model.predict`, the data checked: the deterministic
        reconstruction of `x` (of a conditional model, `predict((x, c))`)."""
        arguments = bind_arguments(keras.Model.predict, args, kwargs)
        if self.num_classes is not None:
            x, c = self._validate_conditional(arguments.get("x"), None)
            arguments["x"] = input_pipeline.without_autotune(x) if c is None else (x, c)
            return super().predict(callbacks=self._with_guard(callbacks), **arguments)
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

        arguments = bind_arguments(getattr(keras.Model, f"{mode}_on_batch"), (x,) + args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"), arguments.get("class_weight"))
        if self.num_classes is not None:
            x, y = self._validate_conditional(x, arguments.pop("y", None))
            # train/test_on_batch take (x, y); predict_on_batch the pair as x.
            args, kwargs = (), {k: v for k, v in arguments.items() if k != "x"}
            if mode == "predict":
                x = (x, y)
            else:
                kwargs["y"] = y
        else:
            check_no_labels(arguments.get("y"))
            self._validate_fit_data(x)
        guard = self.step_guard(mode)
        guard.reset()
        result = method(x, *args, **kwargs)
        self.sync_state()
        report = guard.report()
        if report is not None:
            raise step_guard_error(self, mode, report)
        return result

    @staticmethod
    def _with_guard(callbacks, x=None, validation=None):
        """`callbacks` with a `RaiseOnNonFinite`, placed before any
        `keras.callbacks.TerminateOnNaN` (which sees only the loss), and a
        `SeedDatasetEpochs` when `fit`'s `x` or `validation` (its
        `validation_data`) is a `keras_vae.datasets.load` stream (its epochs
        then resume exactly)."""
        from keras_vae.callbacks.raise_on_non_finite import RaiseOnNonFinite
        from keras_vae.callbacks.seed_dataset_epochs import SeedDatasetEpochs
        from keras_vae.datasets.pass_keys import is_load_stream

        if isinstance(callbacks, keras.callbacks.CallbackList):
            return callbacks  # fit's own list, passed to its validation
        callbacks = list(callbacks or [])
        keyed = [c for c in callbacks if isinstance(c, SeedDatasetEpochs)]
        if not is_load_stream(x) or any(c.dataset is x for c in keyed):
            x = None  # not a stream, or the user's callback keys it
        if not is_load_stream(validation) or any(c.validation_data is validation for c in keyed):
            validation = None
        if x is not None or validation is not None:
            callbacks.append(SeedDatasetEpochs(x, validation_data=validation))
        if not any(isinstance(c, RaiseOnNonFinite) for c in callbacks):
            theirs = [
                i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.TerminateOnNaN)
            ]
            callbacks.insert(theirs[0] if theirs else len(callbacks), RaiseOnNonFinite())
        return callbacks

    def _validate_fit_data(self, x, name="x"):
        """`x` checked (arrays become float32 NumPy), the model built from it.

        In-memory arrays are checked up front; a dataset's element spec is
        checked before tracing (one input, no targets, dtype, shape,
        batched), its values inside the step. An unbuilt model is built
        from the first batch of a generator or `keras.utils.PyDataset`
        (returned restored: a peeked generator is replaced); other streams
        are checked, and build the model, when the step is traced
        (`unpack`).
        """
        check_one_input(x, name)
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            x = self.validate_data(x, name)
            self.build_for_batch(x)
        elif _is_dataset(x):
            spec_x, spec_y, spec_weight = keras.utils.unpack_x_y_sample_weight(x.element_spec)
            check_no_sample_weight(spec_weight)
            check_no_labels(spec_y)
            check_one_input(spec_x, name)
            spec = self.check_dataset(x, name)  # first: it names unbatched data
            if spec is not None:
                check_feature_axes(spec.shape, name)
                self.build_for_batch(spec)
        elif not self.built:
            # A Python generator or `keras.utils.PyDataset`: build from its
            # first batch, peeked as Keras's data adapters do, before the
            # step is traced (a step that creates variables cannot compile
            # with XLA for every model). Its values are checked in the step.
            first, x = _peek(x)
            if first is not None:
                batch, y, sample_weight = keras.utils.unpack_x_y_sample_weight(first)
                check_no_sample_weight(sample_weight)
                check_no_labels(y)
                self.build_for_batch(check_batch(batch, name))
        return x


def _peek(x):
    """`(first batch, x restored)` of a generator or `keras.utils.PyDataset`,
    else `(None, x)`. A generator is consumed by the peek, so a generator
    yielding the first batch and then the rest takes its place."""
    if isinstance(x, keras.utils.PyDataset):
        if x.num_batches == 0:
            return None, x  # empty: Keras says so
        return x[0], x  # Keras's adapter reads batches by index, as here
    if isinstance(x, types.GeneratorType):
        try:
            first = next(x)
        except StopIteration:
            return None, (batch for batch in ())  # empty: Keras says so
        return first, _prepend(first, x)
    return None, x


def _prepend(first, rest):
    yield first
    yield from rest


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
