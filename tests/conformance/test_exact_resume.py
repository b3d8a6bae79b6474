"""Conformance: an interrupted and resumed `fit` ends bit-identical, for every model.

The consumer's path: `fit` for 6 epochs with `keras.callbacks.BackupAndRestore`
is interrupted at the start of epoch 4 (a callback raises, as a pre-empted
job would die); a NEW model built from the same config, under another global
seed, resumes with the same backup directory to epoch 6. Its weights, `beta`,
optimizer state and every `SeedGenerator` state must equal those of an
uninterrupted 6-epoch run bit for bit.

Every spec runs with dynamic binarization and `KLWarmUp` (schedule state);
the registry's specs bring GECO (VAE[2], VHPVAE), free bits (LadderVAE[0]),
batch norm (LadderVAE), an EMA codebook (VQVAE[0], here with restarts after
2 idle steps so restarts happen), k-means init (VQVAE[1]), the PixelCNN
prior and the user models of `USER_MODELS` (a conditional one resumes with
its condition, `fit(x, c)`). Data are fed in order (`shuffle=False`): Keras shuffles NumPy inputs
with TensorFlow's global random state, which no backup holds.
"""

import keras
import numpy as np
import pytest

from keras_vae.callbacks import KLWarmUp
from keras_vae.models.latent_variable_model import LatentVariableModel
from keras_vae.testing import conformance
from keras_vae.testing.interrupt_at import InterruptAt
from keras_vae.testing.interrupt_at import Interrupted

EPOCHS, INTERRUPT_AT, BATCH = 6, 3, 8  # one step per epoch: fast, eager
# The cases run eagerly (no tracing: a few seconds per model instead of
# ~15 s; the state that must survive is the same). One `large` case repeats
# VAE[0] with `jit_compile=True`.
XLA_SUFFIX = "-xla"


def _cases():
    # On JAX, the first spec of each model; its other specs (other networks,
    # the same state to carry) are slow duplicates there.
    cases = [
        pytest.param(
            name,
            spec,
            f"{name}[{i}]",
            id=f"{name}[{i}]",
            marks=[pytest.mark.large_on_jax] * (i > 0),
        )
        for name in conformance.model_names()
        for i, spec in enumerate(conformance.specs(name))
    ]
    name = "keras_vae.models.VAE"
    case_id = f"{name}[0]{XLA_SUFFIX}"
    cases.append(
        pytest.param(name, conformance.specs(name)[0], case_id, id=case_id, marks=pytest.mark.large)
    )
    return cases


def _kwargs(case_id, spec, cls):
    kwargs = dict(spec.init_kwargs)
    if issubclass(cls, LatentVariableModel):
        kwargs["dynamic_binarization"] = True
    if case_id.startswith("keras_vae.models.VQVAE[0]"):
        kwargs["quantizer"] = {
            "class_name": "keras_vae>VectorQuantizerEMA",
            "config": {
                "num_embeddings": kwargs["num_embeddings"],
                "embedding_dim": kwargs["embedding_dim"],
                "restart_dead_codes": True,
                "dead_code_steps": 2,
            },
        }
    return kwargs


def _new_model(name, spec, case_id, global_seed):
    keras.backend.clear_session()
    keras.utils.set_random_seed(global_seed)
    cls = conformance.resolve(name)
    model = cls(**_kwargs(case_id, spec, cls))
    xla = case_id.endswith(XLA_SUFFIX)
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=xla, run_eagerly=not xla)
    return model


def _callbacks(model):
    return [KLWarmUp(4)] if isinstance(model, LatentVariableModel) else []


def _state(model):
    """Weights (beta and layer statistics included), optimizer variables and
    generator states, as numpy arrays keyed by kind and position."""
    state = {}
    for i, w in enumerate(model.weights):
        state[f"weight {i} ({w.path})"] = np.array(w)
    for i, v in enumerate(model.optimizer.variables):
        state[f"optimizer {i} ({v.path})"] = np.array(v)
    seeds = [v for v in model.variables if "seed_generator_state" in v.path]
    for i, v in enumerate(seeds):
        state[f"seed state {i} ({v.path})"] = np.array(v)
    return state


@pytest.mark.parametrize("name, spec, case_id", _cases())
def test_interrupted_fit_resumes_bit_identical(name, spec, case_id, tmp_path):
    x, c = conformance.model_data(spec)
    fit = dict(batch_size=BATCH, shuffle=False, verbose=0)

    reference = _new_model(name, spec, case_id, 1337)
    reference.fit(x, c, epochs=EPOCHS, callbacks=_callbacks(reference), **fit)
    expected = _state(reference)
    del reference

    backup = str(tmp_path / "backup")
    first = _new_model(name, spec, case_id, 1337)
    with pytest.raises(Interrupted):
        first.fit(
            x,
            c,
            epochs=EPOCHS,
            callbacks=_callbacks(first)
            + [keras.callbacks.BackupAndRestore(backup), InterruptAt(INTERRUPT_AT)],
            **fit,
        )
    del first

    # A new process would build a new model: another global seed, same config.
    resumed = _new_model(name, spec, case_id, 4242)
    history = resumed.fit(
        x,
        c,
        epochs=EPOCHS,
        callbacks=_callbacks(resumed) + [keras.callbacks.BackupAndRestore(backup)],
        **fit,
    )
    assert len(history.epoch) == EPOCHS - INTERRUPT_AT, history.epoch
    actual = _state(resumed)

    assert actual.keys() == expected.keys()
    different = [
        f"{key}: max |diff| {np.max(np.abs(actual[key].astype('float64') - expected[key])):.3g}"
        for key in expected
        if not np.array_equal(actual[key], expected[key])
    ]
    assert not different, f"{case_id} resumed differs from uninterrupted:\n" + "\n".join(different)


def test_the_vqvae_case_restarts_dead_codes():
    # The VQVAE[0] case above must exercise dead-code restarts within its 6
    # epochs: without restarts the same run ends with another codebook.
    name = "keras_vae.models.VQVAE"
    spec = conformance.specs(name)[0]
    x = spec.input_data(np.random.RandomState(0))
    codebooks = []
    for restart in (True, False):
        model = _new_model(name, spec, f"{name}[0]", 1337)
        model.quantizer.restart_dead_codes = restart
        model.fit(x, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
        codebooks.append(np.array(model.quantizer.embeddings))
    assert not np.array_equal(*codebooks)
