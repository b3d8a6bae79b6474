"""Run exports on TF Serving's loading path from a test: helpers.

`run_in_session` runs signatures through the TF1 session loader in a fresh
interpreter that does not import keras_vae (`serving_session_script.py`);
`saved_model_cli_run` runs one signature with `saved_model_cli run`. Both
return numpy outputs, or the error text of a call that failed.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from keras_vae.testing.scripts import run_command
from keras_vae.testing.scripts import run_script

SCRIPT = Path(__file__).with_name("serving_session_script.py")


class Call:
    """One signature call: `Call(id, signature, inputs, raw=False)`.

    `id` names the call in the results (and its files).

    `inputs` maps input names to arrays; `raw=True` skips the Python
    client's shape check of the feeds, as TF Serving's C++ server does.
    """

    def __init__(self, id, signature, inputs, raw=False):
        self.id, self.signature, self.inputs, self.raw = id, signature, inputs, raw


def run_in_session(exports, workdir, timeout=600):
    """Run calls on exports in one child process (TF1 session loader).

    Args:
        exports: `{key: (export_dir, [Call, ...])}`; the calls of an export
            run in order in one session.
        workdir: A directory for the inputs and outputs.

    Returns:
        `(results, imported)`: `results[key]` is `{"signatures": [...],
        call id: dict of outputs or an error string}` (or `{"load_error":
        text}`), `imported` the keras/keras_vae modules the child imported.
    """
    workdir = Path(workdir)
    manifest = []
    for key, (export_dir, calls) in exports.items():
        out_dir = workdir / f"out_{key}"
        in_dir = workdir / f"in_{key}"
        out_dir.mkdir(parents=True, exist_ok=True)
        in_dir.mkdir(parents=True, exist_ok=True)
        entry = {"export_dir": str(export_dir), "out_dir": str(out_dir), "calls": []}
        for call in calls:
            paths = {}
            for name, value in call.inputs.items():
                paths[name] = str(in_dir / f"{call.id}__{name}.npy")
                np.save(paths[name], np.asarray(value))
            entry["calls"].append(
                {
                    "id": call.id,
                    "signature": call.signature,
                    "inputs": paths,
                    "raw": call.raw,
                }
            )
        manifest.append(entry)
    manifest_path = workdir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    # The child runs from the script's directory with the checkout on its
    # path, yet must not import keras_vae: it asserts so itself.
    report = _run_child(manifest_path, timeout)
    results = {}
    for key, (export_dir, calls) in exports.items():
        status = report["exports"][str(export_dir)]
        if "load_error" in status:
            results[key] = status
            continue
        out_dir = workdir / f"out_{key}"
        result = {"signatures": status["signatures"]}
        for call in calls:
            stem = out_dir / call.id
            if stem.with_suffix(".npz").exists():
                with np.load(stem.with_suffix(".npz")) as data:
                    result[call.id] = {k: data[k] for k in data.files}
            else:
                result[call.id] = stem.with_suffix(".error").read_text()
        results[key] = result
    return results, report["imported"]


def _run_child(manifest_path, timeout):
    stdout = run_script(SCRIPT, manifest_path, timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise AssertionError(f"{SCRIPT.name} printed no RESULT line:\n{stdout[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def saved_model_cli_run(export_dir, signature, inputs, outdir, timeout=300):
    """`saved_model_cli run` of one signature; returns `{output: array}`.

    Raises `AssertionError` with the command's output if it fails.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    specs = []
    for name, value in inputs.items():
        path = outdir / f"input_{name}.npy"
        np.save(path, np.asarray(value))
        specs.append(f"{name}={path}")
    command = [
        sys.executable,
        "-m",
        "tensorflow.python.tools.saved_model_cli",
        "run",
        "--dir",
        str(export_dir),
        "--tag_set",
        "serve",
        "--signature_def",
        signature,
        "--inputs",
        ";".join(specs),
        "--outdir",
        str(outdir),
        "--overwrite",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    run_command(command, "saved_model_cli run", env=env, timeout=timeout)
    return {
        path.stem: np.load(path)
        for path in outdir.glob("*.npy")
        if not path.stem.startswith("input_")
    }
