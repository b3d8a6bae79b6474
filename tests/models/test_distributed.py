"""A VAE under `tf.distribute.MirroredStrategy` on two logical CPU devices.

Logical devices must be configured before TensorFlow initializes its devices,
so the measurements run in a subprocess (`distributed_check.py`, which
documents the setup) and this module checks its numbers against a
single-device model that started from the same weights:

- DESIGN.md trap (a): Keras sums the per-replica loss, so an undivided loss
  would double the logged loss and the SGD update with two replicas;
- DESIGN.md trap (b): the strategy runs with `jit_compile=False`, since XLA
  across logical CPU devices fails;
- a non-finite value seen by ONE replica must make BOTH skip the update.
"""

import numpy as np
import pytest

# Run by the `result` fixture (tests/conftest.py).
CHECK_SCRIPT = "distributed_check.py"


def test_two_replicas(result):
    assert result["num_logical_cpus"] == 2
    assert result["num_replicas"] == 2


def test_compile_defaults_follow_the_model_strategy(result):
    # Compiled outside `strategy.scope()`, the defaults are still those of
    # a multi-replica model (XLA off, one step per execution).
    assert result["auto_steps_per_execution"] == 1
    assert result["auto_jit_compile"] is False


def test_evaluate_matches_single_device(result):
    single, mirrored = result["eval_single"], result["eval_mirrored"]
    keys = {"loss", "elbo", "reconstruction", "kl", "beta"}
    assert set(single) == set(mirrored) == keys
    for key in ("loss", "elbo", "reconstruction", "kl"):
        # A replica-count factor would show as a 2x ratio.
        np.testing.assert_allclose(mirrored[key], single[key], rtol=1e-4, err_msg=key)


def test_logged_training_losses_match(result):
    single, mirrored = result["losses_single"], result["losses_mirrored"]
    assert len(single) == len(mirrored) == 2
    np.testing.assert_allclose(mirrored, single, rtol=1e-4)


def test_sgd_updates_match_in_scale_and_direction(result):
    norm_single = result["update_norm_single"]
    norm_mirrored = result["update_norm_mirrored"]
    assert norm_single > 0.1  # the two SGD steps really moved the weights
    # Trap (a): an undivided per-replica loss gives a ratio of 2.
    assert norm_mirrored / norm_single == pytest.approx(1.0, abs=1e-3)
    assert result["update_diff_norm"] < 1e-3 * norm_single
    assert result["replica_copy_diff"] == 0.0


def test_log_likelihood_under_strategy(result):
    single = np.array(result["ll_single"])
    mirrored = np.array(result["ll_mirrored"])
    assert mirrored.shape == single.shape == (32,)
    assert np.all(np.isfinite(mirrored))
    # Different importance samples: per-example noise is about 1 nat, so the
    # mean over 32 examples agrees within ~4 standard errors.
    assert abs(mirrored.mean() - single.mean()) < 1.0


def test_non_finite_shard_skips_update_on_every_replica(result):
    error = result["nan_error"]
    assert error is not None, "fit did not raise NonFiniteLossError"
    assert "non-finite" in error and "batch 1" in error
    assert result["nan_steps_recorded"] == 2
    assert result["nan_good_step_update_norm"] > 0.1  # step 0 did update
    assert result["nan_final_vs_good_step"] == 0.0  # step 1 did not
    assert result["nan_final_finite"]
    assert result["nan_replica_copy_diff"] == 0.0
    # The optimizer's step counter advanced for the good step only.
    assert result["iterations_after"] == result["iterations_before"] + 1


def test_model_built_lazily_by_fit_under_strategy(result):
    # A model made in strategy.scope() and built by `fit` gets mirrored
    # variables (LadderVAE, with batch norm and free bits).
    assert result["lazy_ladder_mirrored"]
    assert np.all(np.isfinite(result["lazy_ladder_loss"]))
    assert result["lazy_ladder_replica_copy_diff"] == 0.0
