"""The diagnostic callbacks with a model under `tf.distribute.MirroredStrategy`.

The callbacks run on the host after each epoch and call the model's
diagnostic functions; a model whose variables are mirrored over two logical
CPU devices must give the numbers of a single-device model with the same
weights (`callbacks_distributed_check.py` measures both in a subprocess).
"""

import numpy as np

# Run by the `result` fixture (tests/conftest.py).
CHECK_SCRIPT = "callbacks_distributed_check.py"


def test_two_replicas(result):
    assert result["num_replicas"] == 2


def test_logs_match_a_single_device_model(result):
    single, mirrored = result["logs_single"], result["logs_mirrored"]
    keys = {"active_units", "mutual_information", "marginal_kl", "avg_kl"}
    assert keys | {"val_log_likelihood", "loss"} <= set(single) == set(mirrored)
    for key in keys:
        # Same weights and the same seeded samples: equal up to float32.
        np.testing.assert_allclose(mirrored[key], single[key], rtol=1e-5, err_msg=key)
    assert single["mutual_information"] > 0
    # Fresh importance samples (300 per example, 16 examples): close only.
    assert abs(mirrored["val_log_likelihood"] - single["val_log_likelihood"]) < 0.5


def test_image_grids_match(result):
    single, mirrored = result["png_single"], result["png_mirrored"]
    recon_single = np.array(single["reconstructions"])
    recon_mirrored = np.array(mirrored["reconstructions"])
    assert recon_single.shape == (4 * 7 - 1, 3 * 7 - 1, 1)  # 2 row pairs of 3
    # Reconstructions are deterministic (posterior means): equal pixels.
    assert np.abs(recon_single.astype(int) - recon_mirrored).max() <= 1
    # Samples are random: same grid shape only.
    assert np.array(single["samples"]).shape == np.array(mirrored["samples"]).shape
