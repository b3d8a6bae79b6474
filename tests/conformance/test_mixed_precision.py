"""Conformance: every model trains and scores under a mixed precision policy.

Users switch on mixed precision with one line,
`keras.mixed_precision.set_global_policy("mixed_bfloat16")` (or
`"mixed_float16"`), then build, `fit`, `evaluate`, `predict` and score a
model as usual (issue 13, item 4). The rule (DESIGN.md, Convention 5):
matmuls and convolutions run in the 16-bit compute dtype; log-densities, KL
terms, log-sum-exps, losses and metric sums in float32. The checks, per
registered model spec:

- `fit` (two XLA steps), `evaluate` and `predict` run and are finite;
- the objective's terms, the metrics and the log importance weights are
  float32, and `predict` returns float32 means;
- the model's networks really compute in the 16-bit dtype (a model that
  silently ran in float32 would pass the rest);
- `log_likelihood` is close to that of a float32 twin holding the same
  weights and seed states (tolerance below);
- the model exports with `keras_vae.export.export_for_serving` (every model
  with serving signatures).

Every spec runs under `mixed_bfloat16` (TPUs and recent CPUs). Under
`mixed_float16` one spec per model class runs: the dtype plumbing is the
same code as for bfloat16; what float16 adds is loss scaling in the train
step (`LossScaleOptimizer`), which one model per class covers, and which
`test_float16_overflow_lowers_the_loss_scale_without_an_error` checks
directly. Each case compiles five functions (fit, evaluate, predict, two
log-likelihoods) and exports, so the default run keeps one case per model
class (`-m large` runs them all). The global policy is restored to float32
after every test.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae
from keras_vae.testing import conformance
from keras_vae.testing.checks import make_inputs

POLICIES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}

# Tolerance of log_likelihood against the float32 twin, in nats per example:
# `rtol * |log p(x)| + atol`. One rounding to the compute dtype has relative
# error up to u = 2^-8 (bfloat16) or 2^-11 (float16); the spec networks chain
# a few roundings (input, hidden, head, decoder), so logits and posterior
# parameters carry relative errors of a few u, which partly cancel in a sum
# of ~20 log-density terms. rtol = 8 u. Measured after two training steps on
# every spec with a log-likelihood (16 samples, same noise): at most 0.044
# nats, 0.32 % = 0.8 u (VHPVAE, bfloat16) and 0.0077 nats, 1.2 u (float16),
# for |log p| of 9-15 nats: the tolerance (about 0.4 and 0.07 nats) leaves a
# factor of about 9. A log-density computed in 16 bits is caught by the
# float32 dtype checks, which this tolerance does not replace.
RTOL = {"mixed_bfloat16": 8 * 2.0**-8, "mixed_float16": 8 * 2.0**-11}
ATOL = 0.02
NUM_SAMPLES = 16


def _cases():
    """Every spec under bfloat16, the first of each class under float16.

    The default run keeps one case per model class (its first spec under
    bfloat16) and the plain VAE under float16; the others are `large`.
    """
    cases = []
    for name in conformance.model_names():  # the user models of `USER_MODELS` too
        for i, spec in enumerate(conformance.specs(name)):
            for policy in POLICIES:
                if policy == "mixed_float16" and i > 0:
                    continue
                fast = i == 0 and (policy == "mixed_bfloat16" or name.endswith(".VAE"))
                marks = () if fast else (pytest.mark.large,)
                cases.append(
                    pytest.param(name, spec, policy, id=f"{name}[{i}]-{policy}", marks=marks)
                )
    return cases


@pytest.fixture
def policy_scope():
    """Set a global policy for the test; float32 is restored whatever happens."""

    def set_policy(name):
        keras.backend.clear_session()
        keras.utils.set_random_seed(1337)
        keras.mixed_precision.set_global_policy(name)

    try:
        yield set_policy
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _copy_state(source, target):
    """Weights and seed-generator states of `source` into its twin `target`."""
    assert len(source.variables) == len(target.variables)
    for a, b in zip(source.variables, target.variables):
        assert a.shape == b.shape, (a.path, b.path)
        b.assign(keras.ops.convert_to_numpy(a))


def _changed(model, before):
    return any(
        not np.array_equal(keras.ops.convert_to_numpy(w), b)
        for w, b in zip(model.trainable_weights, before)
    )


def _network_dtypes(model):
    """Compute dtypes of the layers that hold kernels (matmuls, convolutions)."""
    return {
        layer.compute_dtype
        for layer in model._flatten_layers(include_self=False)
        if any(w.path.endswith("kernel") for w in layer._trainable_variables)
    }


@pytest.mark.parametrize("name, spec, policy", _cases())
def test_model_under_mixed_precision(name, spec, policy, policy_scope, tmp_path):
    policy_scope(policy)
    model_cls = conformance.resolve(name)
    x, c = conformance.model_data(spec)
    inputs = conformance.model_inputs(x, c)
    # A conditional model's likelihood methods take its condition.
    condition = {} if c is None else {"condition": c}
    model = model_cls(**spec.init_kwargs)
    assert model.dtype_policy.name == policy
    model(inputs)
    assert _network_dtypes(model) == {POLICIES[policy]}

    # Terms of the objective and metrics: float32.
    if hasattr(model, "compute_terms"):
        # A conditional model's steps see the pair (x, c), c as float vectors.
        batch = x if c is None else (x, model.condition_tensor(c))
        terms = model.compute_terms(batch, training=False)
        wrong = {k: _dtype(v) for k, v in terms.items() if _dtype(v) != "float32"}
        assert not wrong, f"terms not in float32: {wrong}"
    model.compile(optimizer="adam", jit_compile=True)
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(x, c, batch_size=len(x) // 2, epochs=1, shuffle=False, verbose=0)
    for key, values in history.history.items():
        assert np.all(np.isfinite(values)), f"fit: non-finite {key}: {values}"
    if not _changed(model, before) and policy == "mixed_float16":
        # Both steps overflowed float16 at the initial loss scale 2^15 (the
        # KL gradients of a fresh model are large): the LossScaleOptimizer
        # halved the scale and skipped them, as it should. Train on until
        # the scale fits.
        scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
        assert scale == 2.0**13, f"skipped steps not seen by the optimizer: {scale}"
        model.fit(x, c, batch_size=len(x) // 2, epochs=8, shuffle=False, verbose=0)
    assert _changed(model, before), "fit changed no weight"
    assert all(_dtype(m.variables[0]) == "float32" for m in model.metrics if m.variables)

    results = model.evaluate(x, c, batch_size=len(x), verbose=0, return_dict=True)
    assert results and all(np.isfinite(v) for v in results.values()), results
    outputs = model.predict(inputs, batch_size=len(x), verbose=0)
    for out in keras.tree.flatten(outputs):
        assert np.all(np.isfinite(np.asarray(out, "float64")))
    if isinstance(model, keras_vae.models.LatentVariableModel):
        assert outputs.dtype == np.float32 and outputs.shape == x.shape

    if isinstance(model, keras_vae.models.LatentVariableModel):
        log_w = model.log_importance_weights(x, 2, **condition)
        assert _dtype(log_w) == "float32"
        _check_log_likelihood_against_float32(model, model_cls, spec, inputs, condition, policy)

    # Last: the export, for models with serving signatures (a PixelCNN
    # is served through its VQVAE, not on its own). It traces TensorFlow
    # graphs: a JAX-trained model is exported from TensorFlow after loading
    # its `.keras` file (tests/test_cross_backend.py).
    if hasattr(model, "serving_signatures") and keras.backend.backend() == "tensorflow":
        keras_vae.export.export_for_serving(model, str(tmp_path / "export"))
        assert (tmp_path / "export" / "1" / "saved_model.pb").exists()


def _check_log_likelihood_against_float32(model, model_cls, spec, inputs, condition, policy):
    keras.mixed_precision.set_global_policy("float32")
    twin = model_cls(**spec.init_kwargs)
    twin(inputs)
    keras.mixed_precision.set_global_policy(policy)
    _copy_state(model, twin)
    x = inputs[0] if condition else inputs
    mixed = model.log_likelihood(x, num_importance_samples=NUM_SAMPLES, **condition)
    full = twin.log_likelihood(x, num_importance_samples=NUM_SAMPLES, **condition)
    assert np.all(np.isfinite(mixed))
    tol = RTOL[policy] * np.abs(full) + ATOL
    error = np.abs(mixed - full)
    assert np.all(error <= tol), (
        f"log_likelihood under {policy} differs from float32 by up to "
        f"{error.max():.4f} nats (tolerance {tol.min():.4f}); float32: {full}"
    )


def test_float16_overflow_lowers_the_loss_scale_without_an_error(policy_scope):
    """Overflowing float16 steps are skipped by the optimizer, not fatal.

    With a loss scale of 2^40 the scaled gradients overflow float16, so the
    `LossScaleOptimizer` halves the scale and skips the update until the
    gradients fit. keras_vae's own non-finite guard must neither raise
    `NonFiniteLossError` (the loss is finite) nor skip those steps itself
    (the scale would then never come down and no step would ever apply).
    """
    policy_scope("mixed_float16")
    spec = conformance.specs("keras_vae.models.VAE")[0]
    (x,) = make_inputs(spec.input_data, None, 0)
    model = keras_vae.models.VAE(**spec.init_kwargs)
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.Adam(1e-3), initial_scale=2.0**40
    )
    model.compile(optimizer=optimizer, jit_compile=True)
    model(x)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    steps = 40
    data = tf.data.Dataset.from_tensors(x).repeat(steps)
    history = model.fit(data, epochs=1, verbose=0)
    scale = float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
    assert np.all(np.isfinite(history.history["loss"]))
    assert scale < 2.0**40, "the optimizer never saw an overflow"
    # Overflow ends once the scale is low enough; later steps update.
    assert float(keras.ops.convert_to_numpy(optimizer.iterations)) >= 1
    assert _changed(model, before)
