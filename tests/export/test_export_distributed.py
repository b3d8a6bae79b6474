"""A model trained under MirroredStrategy exports and serves.

TensorFlow must see two logical CPU devices before it starts, so the
training and export run in a subprocess (`mirrored_export_check.py`); the
export is then served by the TF1 session loader in another process that
does not import keras_vae.
"""

import json
import os

import numpy as np

from keras_vae.testing.scripts import run_script
from keras_vae.testing.serving import Call
from keras_vae.testing.serving import run_in_session

HERE = os.path.dirname(os.path.abspath(__file__))


def test_mirrored_model_exports_and_serves(tmp_path):
    stdout = run_script(os.path.join(HERE, "mirrored_export_check.py"), tmp_path)
    line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["variable_type"] == "MirroredVariable"
    assert result["replicas"] == 2
    expected = np.load(tmp_path / "expected.npz")
    x = expected["x"]
    calls = [
        Call("reconstruct", "reconstruct", {"x": x}),
        Call("encode", "encode", {"x": x}),
        Call("sample", "sample", {"num_samples": np.int32(3)}),
    ]
    exports = {key: (result[key], calls) for key in ("outside", "inside")}
    served, imported = run_in_session(exports, tmp_path / "session")
    assert "keras_vae" not in imported
    for key in exports:
        out = served[key]
        assert "load_error" not in out, out
        for call in calls:
            assert isinstance(out[call.id], dict), (key, out[call.id])
        np.testing.assert_array_equal(out["reconstruct"]["mean"], expected["mean"])
        np.testing.assert_array_equal(out["encode"]["loc"], expected["loc"])
        np.testing.assert_array_equal(out["encode"]["scale"], expected["scale"])
        assert out["sample"]["z"].shape == (3, 2)
        assert np.all(np.isfinite(out["sample"]["mean"]))
