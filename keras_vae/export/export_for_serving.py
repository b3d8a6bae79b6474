"""SavedModel export with TF Serving signatures (TensorFlow and JAX backends;
imports TensorFlow when it runs)."""

import os
import re
import shutil
import tempfile
import warnings

import keras
from keras import ops

from keras_vae.models.autoencoder import Autoencoder
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.utils.optional_tensorflow import import_tensorflow
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int

SIGNATURES = ("encode", "decode", "reconstruct", "sample", "log_likelihood", "embed")
"""The serving signatures of the VAEs, in export order."""


def available_signatures(model):
    """Signature names `model` can export, in export order.

    Those of `model.serving_signatures()`, then `log_likelihood` and
    `embed` for a `keras_vae.models.LatentVariableModel` (an
    `Autoencoder` such as `VQVAE`, whose objective is not a bound, has
    neither).
    """
    names = tuple(model.serving_signatures())
    if isinstance(model, LatentVariableModel):
        names += ("log_likelihood", "embed")
    return names


def _check_input(model, name, shape, value):
    """`value` of the signature input `name` after its in-graph checks.

    The rule follows the input's name, which is the signatures' contract:
    `x` is data, `num_samples` (prior draws) and `num_importance_samples`
    positive counts, `indices` a VQ code map, `condition` a conditional
    model's condition vectors and any other input (`z`, `z1`, ...) a latent
    batch.
    """
    # The export's TensorFlow modules are imported when it runs, so that
    # `import keras_vae` needs no TensorFlow.
    from keras_vae.export import input_checks

    if name == "condition":
        return input_checks.latent_input(value, name, model.num_classes)
    if name == "x":
        return input_checks.data_input(
            value, name, model.data_shape, getattr(model, "likelihood", None)
        )
    if name in ("num_samples", "num_importance_samples"):
        return input_checks.num_samples_input(value, name)
    if name == "indices":
        return input_checks.codes_input(value, name, shape[1:], model.num_embeddings)
    return input_checks.latent_input(value, name, shape[-1])


def _checked_inputs(model, inputs, args):
    """`args` of a signature with inputs `[(name, shape, dtype), ...]`,
    each after its in-graph checks."""
    from keras_vae.export import input_checks

    names = [name for name, _, _ in inputs]
    checked = [
        _check_input(model, name, shape, value) for (name, shape, _), value in zip(inputs, args)
    ]
    if "condition" in names and names[0] != "condition":
        # One condition row per example of the batch input before it.
        at = names.index("condition")
        checked[0], checked[at] = input_checks.same_batch(
            checked[0], checked[at], names[0], "condition"
        )
    return checked


def _model_functions(model, names, chunk_size):
    """`{name: (fn, inputs)}` of the signatures `names`: `fn` computes the
    outputs with `keras.ops` (no input checks), `inputs` are its `(name,
    shape, dtype)` triples."""
    specs = dict(model.serving_signatures())
    if "log_likelihood" in names or "embed" in names:
        # The inputs of `encode`: x, then a conditional model's condition.
        conditional = getattr(model, "num_classes", None) is not None
        data_inputs = list(specs["encode"][1][: 2 if conditional else 1])
    if "log_likelihood" in names:

        def log_likelihood(*args):
            *data, num_importance_samples = args
            log_px = _chunked_log_likelihood(model, num_importance_samples, chunk_size, *data)
            return {"log_likelihood": log_px}

        specs["log_likelihood"] = (
            log_likelihood,
            data_inputs + [("num_importance_samples", (), "int32")],
        )
    if "embed" in names:

        def embed(x, condition=None):
            return {"embedding": model.embed_tensors(x, condition=condition)}

        specs["embed"] = (embed, data_inputs)
    return {name: specs[name] for name in names}


def _tensorflow_endpoints(model, functions):
    """`{name: (graph function, input specs)}` on TensorFlow: the checks and
    the model's ops in one graph, traced by the archive."""
    import tensorflow as tf

    def endpoint(fn, inputs):
        return lambda *args: fn(*_checked_inputs(model, inputs, args))

    return {
        name: (
            endpoint(fn, inputs),
            [tf.TensorSpec(shape, dtype, name=n) for n, shape, dtype in inputs],
        )
        for name, (fn, inputs) in functions.items()
    }


def _chunked_log_likelihood(model, num_importance_samples, chunk_size, x, condition=None):
    """The model's estimator (`chunked_log_mean_exp`) inside the graph.

    On JAX its loop carries the model's variables (the seed states advance
    from chunk to chunk; see `chunked_log_mean_exp`)."""
    from keras_vae.trainers.chunked_log_mean_exp import chunked_log_mean_exp

    carried = {}
    if keras.backend.backend() == "jax":
        carried["variables"] = model.trainable_variables + model.non_trainable_variables
    return chunked_log_mean_exp(
        lambda k: model.with_condition(model.log_importance_weights, x, k, condition=condition),
        num_importance_samples,
        chunk_size,
        ops.shape(x)[0],
        **carried,
    )


def _next_version(export_dir):
    versions = [
        int(name)
        for name in os.listdir(export_dir)
        if re.fullmatch(r"\d+", name) and os.path.isdir(os.path.join(export_dir, name))
    ]
    return max(versions, default=0) + 1


def export_for_serving(
    model,
    export_dir,
    version=None,
    signatures=None,
    chunk_size=100,
    warmup=False,
    log_likelihood_chunk=None,
):
    r"""Write a model as a SavedModel in TF Serving's versioned layout.

    ```none
    export_dir/
      <version>/saved_model.pb
      <version>/variables/
      <version>/assets.extra/tf_serving_warmup_requests    (warmup=True)
    signatures (keyword inputs -> dict of outputs):
      encode(x)                          -> {"loc", "scale"}   of q(z | x)
      decode(z)                          -> {"mean"}           of p(x | z)
      reconstruct(x)                     -> {"mean"}           at z = E_q[z]
      sample(num_samples)                -> {"mean", "z"}      z ~ p(z)
      log_likelihood(x, num_importance_samples) -> {"log_likelihood"}
        log p(x) ~= log (1/S) sum_s p(x, z_s) / q(z_s | x),  z_s ~ q(z | x)
      embed(x)                           -> {"embedding"}      E_q[z | x]
    ```

    A conditional `VAE(num_classes=C)` takes its condition as one more
    input, `condition`, float32 `(batch, C)` (one-hot rows for class ids),
    with one row per example: `encode(x, condition)`, `decode(z,
    condition)`, `reconstruct(x, condition)`, `embed(x, condition)`,
    `log_likelihood(x, condition, num_importance_samples)` (of
    log p(x | c)), and `sample(condition)`, one draw z ~ p(z) per row.
    `embed` of a model with several latent layers concatenates their
    posterior means, bottom layer first (see
    `keras_vae.models.LatentVariableModel.embed`).

    The SavedModel is written by Keras's `keras.export.ExportArchive` (what
    `model.export()` uses): its variables are restored by the saver in the
    MetaGraph, so it runs on TF Serving's session-based loader
    (`saved_model_cli run`, `tf.compat.v1.saved_model.loader.load`) as well
    as under `tf.saved_model.load`, with no keras_vae (nor Keras) installed.
    A model trained under a `tf.distribute` strategy (mirrored variables)
    exports the same way.

    Backends: it runs under the TensorFlow and the JAX backend, and needs
    TensorFlow installed on both (it writes a TensorFlow SavedModel). On
    TensorFlow the signatures are traced as TensorFlow graphs. On JAX, in
    the JAX process that trained the model, the `ExportArchive` converts
    each signature with `jax.experimental.jax2tf`: the model's computation
    becomes one `XlaCallModule` op (StableHLO with a symbolic batch
    dimension, lowered for CPU and CUDA) that reads the saved variables,
    behind the same TensorFlow input checks (see
    `keras_vae.export.jax_endpoints`). Every signature exports on both, with
    the same names, inputs and outputs; on JAX, `sample` and
    `log_likelihood` draw with JAX's ThreeFry from the saved seed states, as
    the model does in the JAX process (the first `sample` request after
    export returns the model's next prior draw), and the log-likelihood's
    chunks are a `jax.lax.while_loop` that carries the seed states. TF
    Serving and `tf.saved_model.load` run a JAX export as they run a
    TensorFlow one (the `XlaCallModule` op is compiled by XLA, part of
    every TensorFlow 2 build, on its first call: `warmup=True` moves that to
    load time).

    `x` is float32 of shape `(batch,) + data_shape`, `z` float32 of shape
    `(batch, latent_dim)` and `num_samples` an int32 scalar. A
    `HierarchicalVAE` has one input and output per latent layer instead:
    `decode(z1, z2)`, `encode(x) -> {"loc_z1", "scale_z1", "loc_z2",
    "scale_z2"}` and `sample -> {"mean", "z1", "z2"}`. A `LadderVAE` with L
    layers decodes from z1 only, `decode(z1)`, and returns every layer from
    `encode` (`"loc_z1"` ... `"scale_zL"`) and `sample` (`"z1"` ... `"zL"`).
    A `VQVAE` exports `reconstruct(x) -> {"mean"}`, `codes(x) ->
    {"indices"}` (int32 `(batch, h, w)` code maps) and
    `decode_codes(indices) -> {"mean"}`; it has no importance-sampled
    likelihood (it is an `Autoencoder`, not a `LatentVariableModel`), so
    no `log_likelihood`. A model of your own exports the signatures of its
    `serving_signatures()` (see `keras_vae.models.Autoencoder`); to export
    under JAX, their functions compute with `keras.ops`, as the models' do,
    and only a `num_samples` input may set an output's size (a signature
    that cannot be converted raises a `ValueError` naming it). The
    log-likelihood is the model's importance-sampled estimator, drawn inside
    the graph in chunks of `chunk_size` samples combined by a
    running log-sum-exp, so a request with S = 5000 samples needs the memory
    of one chunk. Random signatures use the model's `SeedGenerator` states,
    which are saved with the weights and advance on every call.

    Every signature checks its inputs inside the graph (TF Serving does not
    compare a request's shape with the signature) and fails with an
    `InvalidArgumentError` that names the input and the rule: `x` of another
    shape or rank (an `(n, 64)` or `(n, 4, 4, 4)` batch for 8x8x1 images,
    an `(n, 6, 1)` batch for 6 features), a NaN or infinite value in `x` or
    `z`, `x` outside the likelihood's support ([0, 1] for `Bernoulli` and
    `DiscretizedLogistic`), code `indices` outside [0, num_embeddings),
    `num_samples <= 0` or not a scalar, and a `condition` of another width
    or number of rows than the batch.

    With `warmup=True` the version also holds TF Serving warm-up requests
    (one `PredictionLog` per signature, a batch of one example), so the
    server runs every signature once when it loads the version instead of
    on the first client request. This needs the `tensorflow-serving-api`
    package (`pip install keras_vae[serving]`).

    The version directory is written under a temporary name and renamed at
    the end, so a TF Serving process watching `export_dir` never sees a
    partial export.

    Serving it: point TF Serving at the base directory, e.g. with a
    `models.config` (`tensorflow_model_server --model_config_file=models.config
    --rest_api_port=8501`):

    ```none
    model_config_list {
      config {
        name: "vae"
        base_path: "/models/vae"          # export_dir, as the server sees it
        model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 1 } }
      }
    }
    ```

    and call a signature by name over REST (`instances` hold one example
    each; `inputs` a whole batch, or a scalar like `num_importance_samples`):

    ```none
    curl -d '{"signature_name": "reconstruct", "instances": [[[[0.0], ...]]]}' \
        http://localhost:8501/v1/models/vae:predict
    curl -d '{"signature_name": "log_likelihood",
              "inputs": {"x": [[[[0.0], ...]]], "num_importance_samples": 5000}}' \
        http://localhost:8501/v1/models/vae:predict
    curl -d '{"signature_name": "sample", "inputs": {"num_samples": 16}}' \
        http://localhost:8501/v1/models/vae:predict
    ```

    Args:
        model: A built `keras_vae.models.Autoencoder`: `VAE`,
            `HierarchicalVAE`, `LadderVAE`, `VHPVAE`, `VQVAE` or a subclass
            of your own. Its `serving_signatures()` are exported, and for a
            `LatentVariableModel` a `log_likelihood` signature from its
            `log_importance_weights`.
        export_dir: The model's base directory; created if missing. Its
            name is the model name of the warm-up requests.
        version: Optional positive integer. Defaults to one more than the
            largest integer subdirectory of `export_dir` (1 if none).
        signatures: Names of the signatures to export, a subset of the
            model's (`available_signatures(model)`; `SIGNATURES` for the
            VAEs). Defaults to all of them. The first one is also exported
            as `"serving_default"`.
        chunk_size: Positive integer, importance samples per step of the
            `log_likelihood` signature (the `chunk_size` of
            `LatentVariableModel.log_likelihood`). Defaults to 100.
        warmup: Whether to write TF Serving warm-up requests. Defaults to
            `False`.
        log_likelihood_chunk: Deprecated name of `chunk_size` (removed in
            the next release).

    Returns:
        The path of the version directory written, as a string.

    Raises:
        ValueError: if the model is not built or an argument is invalid, or,
            under JAX, if a signature's function cannot be converted by
            `jax2tf` (a model of your own; see above).
        FileExistsError: if `export_dir/<version>` already exists.
        ImportError: if TensorFlow is not installed (on either backend), or
            if `warmup=True` and `tensorflow-serving-api` is missing (raised
            before anything is written).

    Example:

    >>> import tensorflow as tf
    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> path = keras_vae.export.export_for_serving(vae, "exports/vae")
    >>> path
    'exports/vae/1'
    >>> with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    ...     meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
    ...     sig = meta.signature_def["log_likelihood"]
    ...     log_px = sess.run(sig.outputs["log_likelihood"].name, {
    ...         sig.inputs["x"].name: x_test[:10],
    ...         sig.inputs["num_importance_samples"].name: 500})
    >>> log_px.shape
    (10,)
    >>> tf.saved_model.load(path).signatures["reconstruct"](
    ...     x=tf.constant(x_test[:10]))["mean"].shape
    TensorShape([10, 8, 8, 1])

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
        - [TF Serving SavedModel layout](
          https://www.tensorflow.org/tfx/serving/serving_basic)
        - [TF Serving REST API](https://www.tensorflow.org/tfx/serving/api_rest)
        - [SavedModel warm-up](
          https://www.tensorflow.org/tfx/serving/saved_model_warmup)
    """
    tf = import_tensorflow("keras_vae.export.export_for_serving (a SavedModel export)")
    from keras_vae.export import warmup as warmup_requests

    if log_likelihood_chunk is not None:
        warnings.warn(
            "`log_likelihood_chunk` is deprecated; pass `chunk_size` (the same "
            "importance samples per step).",
            DeprecationWarning,
            stacklevel=2,
        )
        chunk_size = log_likelihood_chunk
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if warmup:
        warmup_requests.check_available()
    version = check_optional_positive_int(version, "version")
    built = getattr(model, "built", False)
    if not built or getattr(model, "data_shape", None) is None:
        raise ValueError(
            "The model is not built yet: call or fit it on data first, or "
            "call `model.build((None,) + data_shape)`. Received: a model with "
            f"built={getattr(model, 'built', None)}"
        )
    if not isinstance(model, Autoencoder):
        raise TypeError(
            "Expected a `keras_vae.models.Autoencoder` (e.g. a "
            "`LatentVariableModel`), whose `serving_signatures()` are exported. "
            f"Received: model of type {type(model).__name__}"
        )
    available = available_signatures(model)
    if signatures is None:
        signatures = available
    if isinstance(signatures, str):
        signatures = (signatures,)
    signatures = tuple(signatures)
    unknown = [s for s in signatures if s not in available]
    if not signatures or unknown or len(set(signatures)) != len(signatures):
        raise ValueError(
            "Expected `signatures` to be distinct names among "
            f"{list(available)}. Received: signatures={list(signatures)}"
        )

    export_dir = os.fspath(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    if version is None:
        version = _next_version(export_dir)
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(
            f"Expected a new version directory; refusing to overwrite. "
            f"Received: version={version}, which exists at {target}"
        )

    # Keras's own archive: its variables are restored by the saver in the
    # MetaGraph, so TF Serving's session-based loader can run the signatures.
    functions = _model_functions(model, signatures, chunk_size)
    archive = keras.export.ExportArchive()
    if keras.backend.backend() == "jax":
        from keras_vae.export.jax_endpoints import jax_endpoints

        endpoints = jax_endpoints(
            model, functions, lambda inputs, args: _checked_inputs(model, inputs, args)
        )
        for name, fn in endpoints.items():
            archive.add_endpoint(name, fn)
    else:
        archive.track(model)
        for name, (fn, input_signature) in _tensorflow_endpoints(model, functions).items():
            archive.add_endpoint(name, fn, input_signature)
    warmup_specs = {
        name: [tf.TensorSpec(shape, dtype, name=n) for n, shape, dtype in inputs]
        for name, (_, inputs) in functions.items()
    }

    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        archive.write_out(staging, verbose=False)
        if warmup:
            warmup_requests.write_warmup_requests(
                staging,
                warmup_specs,
                os.path.basename(os.path.normpath(export_dir)),
            )
        # mkdtemp makes the directory private (0700); give the version
        # directory the usual permissions so a serving process can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
