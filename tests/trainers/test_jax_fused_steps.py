"""On JAX, the steps of one execution run as one `lax.scan` (`JAXGuardedSteps`).

Oracle: Keras's own JAX trainer, which calls the jitted step once per batch
(`steps_per_execution=1`). The fused runs must end where it ends: the same
number of optimizer steps, weights and logged metrics to float32 round-off.
83 rows in batches of 8 with 4 steps per execution give the runs of every
kind: full executions, a shorter last one (batches 8-9), and the smaller
last batch (3 rows) as a run of its own. A refused batch leaves the weights
in place (Keras's JAX trainer takes them out of the variables during `fit`).
"""

import keras
import numpy as np
import pytest

from keras_vae.models import VAE

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX trainer only")


def _fit(steps_per_execution, x):
    model = VAE(latent_dim=2, hidden_units=(16,), dynamic_binarization=True, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        jit_compile=True,
        steps_per_execution=steps_per_execution,
    )
    history = model.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, history.history


def test_fused_executions_match_per_step_calls():
    x = np.random.default_rng(0).uniform(size=(83, 12)).astype("float32")
    fused, fused_logs = _fit(4, x)
    single, single_logs = _fit(1, x)
    assert int(fused.optimizer.iterations.numpy()) == 2 * 11
    assert int(single.optimizer.iterations.numpy()) == 2 * 11
    for a, b in zip(fused.weights, single.weights):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6, err_msg=a.path
        )
    assert fused_logs.keys() == single_logs.keys()
    for name in fused_logs:
        np.testing.assert_allclose(fused_logs[name], single_logs[name], rtol=1e-4, err_msg=name)


def test_a_refused_stream_keeps_the_weights():
    model, _ = _fit(4, np.random.default_rng(1).uniform(size=(16, 12)).astype("float32"))
    before = [np.asarray(w) for w in model.weights]

    def wrong_width():
        yield (np.zeros((8, 5), "float32"),)

    with pytest.raises(ValueError, match=r"Expected `x` of shape \(batch,\) \+ \(12,\)"):
        model.fit(wrong_width(), verbose=0)
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(np.asarray(b), a, err_msg=b.path)
    model.fit(np.ones((8, 12), "float32"), batch_size=8, verbose=0)  # still trains
