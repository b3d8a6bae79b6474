"""SavedModel export with TF Serving signatures (TensorFlow-only module)."""

import math
import os
import re
import shutil
import tempfile

import tensorflow as tf

from keras_vae.utils.validation import check_positive_int

SIGNATURES = ("encode", "decode", "reconstruct", "sample", "log_likelihood")


def available_signatures(model):
    """Signature names `model` can export, in export order.

    Those of `model._serving_functions()`, then `log_likelihood` unless the
    model sets `has_log_likelihood = False` (a `VQVAE`, whose objective is
    not a bound).
    """
    names = tuple(model._serving_functions())
    if getattr(model, "has_log_likelihood", True):
        names += ("log_likelihood",)
    return names


class _ServingModule(tf.Module):
    """A `tf.Module` holding a model's variables and its serving functions.

    Only the variables are tracked (as Keras's own `ExportArchive` does), not
    the Keras model object, so the SavedModel holds graph functions and
    weights and loads without keras_vae. The model supplies its graph
    functions through `_serving_functions()` (the public methods validate
    concrete numpy data, which cannot run inside a graph).
    """

    def __init__(self, model, names, chunk):
        super().__init__(name="keras_vae_serving")
        # Every variable of the model, the `SeedGenerator` states included:
        # sampling signatures advance them, and they are saved with the rest.
        self.model_variables = list(model.variables)
        specs = dict(model._serving_functions())
        if "sample" in specs:
            sample_fn, sample_specs = specs["sample"]

            def sample(num_samples):
                _assert_positive(num_samples)
                return sample_fn(num_samples)

            specs["sample"] = (sample, sample_specs)

        def log_likelihood(x, num_samples):
            _assert_positive(num_samples)
            log_px = _chunked_log_likelihood(model, x, num_samples, chunk)
            return {"log_likelihood": log_px}

        if "log_likelihood" in names:
            specs["log_likelihood"] = (
                log_likelihood,
                [specs["encode"][1][0], ("num_samples", (), "int32")],
            )
        for name in names:
            fn, inputs = specs[name]
            signature = [tf.TensorSpec(shape, dtype, name=n) for n, shape, dtype in inputs]
            setattr(self, name, tf.function(fn, input_signature=signature))


def _assert_positive(num_samples):
    tf.debugging.assert_positive(
        num_samples, message="Expected `num_samples` to be a positive integer"
    )


def _chunked_log_likelihood(model, x, num_samples, chunk):
    """log (1/S) sum_s w_s by a while loop over chunks of `chunk` samples.

    Each step draws a full chunk (a static shape), masks the samples past S
    to -inf and folds the chunk into a running log-sum-exp.
    """
    num_samples = tf.cast(num_samples, tf.int32)
    num_chunks = (num_samples + chunk - 1) // chunk
    batch = tf.shape(x)[0]
    offsets = tf.range(chunk, dtype=tf.int32)[:, None]  # (chunk, 1)

    def body(i, total):
        log_w = tf.cast(model.log_importance_weights(x, chunk), tf.float32)
        keep = i * chunk + offsets < num_samples
        log_w = tf.where(keep, log_w, tf.constant(-math.inf, tf.float32))
        part = tf.reduce_logsumexp(log_w, axis=0)
        return i + 1, tf.reduce_logsumexp(tf.stack([total, part]), axis=0)

    _, total = tf.while_loop(
        lambda i, total: i < num_chunks,
        body,
        (tf.constant(0, tf.int32), tf.fill([batch], -math.inf)),
    )
    return total - tf.math.log(tf.cast(num_samples, tf.float32))


def _next_version(export_dir):
    versions = [
        int(name)
        for name in os.listdir(export_dir)
        if re.fullmatch(r"\d+", name)
        and os.path.isdir(os.path.join(export_dir, name))
    ]
    return max(versions, default=0) + 1


def export_for_serving(
    model,
    export_dir,
    version=None,
    signatures=None,
    log_likelihood_chunk=100,
):
    """Write a model as a SavedModel in TF Serving's versioned layout.

    ```none
    export_dir/
      <version>/saved_model.pb
      <version>/variables/
    signatures (keyword inputs -> dict of outputs):
      encode(x)                          -> {"loc", "scale"}   of q(z | x)
      decode(z)                          -> {"mean"}           of p(x | z)
      reconstruct(x)                     -> {"mean"}           at z = E_q[z]
      sample(num_samples)                -> {"mean", "z"}      z ~ p(z)
      log_likelihood(x, num_samples)     -> {"log_likelihood"}
        log p(x) ~= log (1/S) sum_s p(x, z_s) / q(z_s | x),  z_s ~ q(z | x)
    ```

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
    likelihood (`has_log_likelihood = False`), so no `log_likelihood`. The
    log-likelihood is the model's importance-sampled estimator, drawn inside
    the graph in chunks of `log_likelihood_chunk` samples combined by a
    running log-sum-exp, so a request with S = 5000 samples needs the memory
    of one chunk. Random signatures use the model's `SeedGenerator` states,
    which are saved with the weights and advance on every call.

    The version directory is written under a temporary name and renamed at
    the end, so a TF Serving process watching `export_dir` never sees a
    partial export.

    Args:
        model: A built `keras_vae.models.VAE`, `HierarchicalVAE`,
            `LadderVAE` or `VQVAE` (any `LatentVariableModel` with
            `_serving_functions`, and `log_importance_weights` for the
            `log_likelihood` signature).
        export_dir: The model's base directory; created if missing.
        version: Optional positive integer. Defaults to one more than the
            largest integer subdirectory of `export_dir` (1 if none).
        signatures: Names of the signatures to export, a subset of the
            model's (`available_signatures(model)`; `SIGNATURES` for the
            VAEs). Defaults to all of them. The first one is also exported
            as `"serving_default"`.
        log_likelihood_chunk: Positive integer, importance samples per step
            of the `log_likelihood` signature. Defaults to 100.

    Returns:
        The path of the version directory written, as a string.

    Raises:
        ValueError: if the model is not built or an argument is invalid.
        FileExistsError: if `export_dir/<version>` already exists.

    Example:

    >>> path = keras_vae.export.export_for_serving(vae, "/tmp/vae")
    >>> loaded = tf.saved_model.load(path)
    >>> out = loaded.signatures["log_likelihood"](
    ...     x=x_test[:10], num_samples=tf.constant(5000))
    >>> out["log_likelihood"].shape
    TensorShape([10])

    Reference:
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
        - [TF Serving SavedModel layout](
          https://www.tensorflow.org/tfx/serving/serving_basic)
    """
    chunk = check_positive_int(log_likelihood_chunk, "log_likelihood_chunk")
    if version is not None:
        version = check_positive_int(version, "version")
    built = getattr(model, "built", False)
    if not built or getattr(model, "data_shape", None) is None:
        raise ValueError(
            "The model is not built yet: call or fit it on data first, or "
            "call `model.build((None,) + data_shape)`. Received: a model with "
            f"built={getattr(model, 'built', None)}"
        )
    missing = [
        a for a in ("_serving_functions", "log_importance_weights") if not hasattr(model, a)
    ]
    if missing:
        raise TypeError(
            f"Cannot export the model: it lacks {missing} (see "
            "`keras_vae.models.LatentVariableModel`). Received: model of type "
            f"{type(model).__name__}"
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

    module = _ServingModule(model, signatures, chunk)
    concrete = {
        name: getattr(module, name).get_concrete_function() for name in signatures
    }
    concrete.setdefault("serving_default", concrete[signatures[0]])

    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        tf.saved_model.save(module, staging, signatures=concrete)
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
