"""Serving endpoints of a model on the JAX backend (imports TensorFlow).

On JAX, `keras.export.ExportArchive.add_endpoint` converts a function of
`keras.ops` into a TensorFlow function with `jax.experimental.jax2tf`: the
function is traced once with a symbolic batch dimension, lowered to
StableHLO and embedded in the graph as one `XlaCallModule` op, which takes
the model's variables (saved as TensorFlow variables) as inputs and returns
the outputs and the new values of the non-trainable variables (the
`keras.random.SeedGenerator` states), which it assigns back. A SavedModel of
such endpoints runs in TF Serving's session loader like a TensorFlow one.

Two things a JAX trace cannot hold are handled around it:

- The input checks (`keras_vae.export.input_checks`) are TensorFlow asserts
  with messages; StableHLO has no op that fails with a message. Each
  endpoint is a `tf.function` that checks its inputs, then calls the
  converted function, so a bad request fails with the same
  `InvalidArgumentError` as on TensorFlow.
- A count that sets the leading dimension of an output (`num_samples` of
  `sample`, in `COUNT_INPUTS`) must be a shape, not a value, under JAX. The
  TensorFlow side passes it as the leading dimension of an empty
  `(num_samples, 0)` tensor; inside the trace it is that tensor's symbolic
  dimension, which `keras.random` and `keras.ops` take as a size.

The importance-sampling loop of `log_likelihood` (`num_importance_samples`
is a traced scalar, the loop's bound) is a `jax.lax.while_loop` carrying the
seed states (`keras_vae.trainers.chunked_log_mean_exp` with `variables`).
"""

import inspect

import keras
import tensorflow as tf
from keras import ops

COUNT_INPUTS = ("num_samples",)
"""Inputs that set the leading dimension of the outputs (see the module)."""

PLATFORMS = ("cpu", "cuda")
"""Platforms the exported module is lowered for: TF Serving on CPU, and on
a GPU, where TensorFlow places the `XlaCallModule` op on the GPU (a module
lowered for one platform refuses to run on another)."""


def _jax_spec(name, shape, dtype):
    if name in COUNT_INPUTS:
        return tf.TensorSpec((None, 0), "float32", name=name)
    return tf.TensorSpec(shape, dtype, name=name)


def _counts_as_dimensions(fn, inputs):
    """`fn` taking each count input as an empty `(count, 0)` tensor."""
    names = [name for name, _, _ in inputs]

    def traced(*args):
        return fn(
            *[ops.shape(arg)[0] if name in COUNT_INPUTS else arg for name, arg in zip(names, args)]
        )

    return traced


def _served(converted, inputs, check_inputs):
    """The TensorFlow endpoint: checks, then the converted function."""
    names = [name for name, _, _ in inputs]

    def endpoint(*args):
        checked = check_inputs(args)
        fed = [
            tf.zeros(tf.stack([value, 0])) if name in COUNT_INPUTS else value
            for name, value in zip(names, checked)
        ]
        return converted(*fed)

    # The signature's input names are the parameters' names.
    endpoint.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    )
    specs = [tf.TensorSpec(shape, dtype, name=name) for name, shape, dtype in inputs]
    function = tf.function(endpoint, input_signature=specs, autograph=False)
    function.get_concrete_function()  # traced now: an archive takes traced functions
    return function


def jax_endpoints(model, functions, check_inputs):
    """`{name: traced tf.function}` of the signatures, converted from JAX.

    Args:
        model: The built model; its variables are the endpoints' state.
        functions: `{name: (fn, [(input name, shape, dtype), ...])}`, each
            `fn` a function of `keras.ops` tensors returning a dict.
        check_inputs: Callable `(inputs, args) -> checked args`, the
            TensorFlow input checks of a signature.

    Returns:
        `{name: tf.function}`, each with the signature's named inputs, ready
        for `keras.export.ExportArchive.add_endpoint(name, fn)`.
    """
    # A converter archive holds the TensorFlow copies of the variables; the
    # archive that writes the SavedModel saves those its endpoints use.
    converter = keras.export.ExportArchive()
    converter.track(model)
    endpoints = {}
    for name, (fn, inputs) in functions.items():
        try:
            converted = converter.add_endpoint(
                name,
                _counts_as_dimensions(fn, inputs),
                [_jax_spec(*spec) for spec in inputs],
                # Serving needs no gradient, and the log-likelihood's loop (a
                # while loop with a traced bound) has none.
                jax2tf_kwargs={
                    "with_gradient": False,
                    "native_serialization_platforms": PLATFORMS,
                },
            )
            endpoints[name] = _served(
                converted, inputs, lambda args, inputs=inputs: check_inputs(inputs, args)
            )
        except Exception as error:
            raise ValueError(
                f"The serving signature `{name}` cannot be exported under the JAX "
                "backend: jax2tf traces its function with a symbolic batch size, so "
                "it must compute with `keras.ops` (no TensorFlow ops) and take sizes "
                f"only from its inputs' shapes or a `num_samples` input. Export the "
                "model under the TensorFlow backend instead (save it with "
                "`model.save(path)` and load it there). Received: "
                f"{type(error).__name__}: {error}"
            ) from error
    return endpoints
