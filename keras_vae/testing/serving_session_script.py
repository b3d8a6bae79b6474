"""Run SavedModel signatures as TF Serving does: TF1 session loader, no keras_vae.

Child script of `keras_vae.testing.serving.run_in_session`; it must not
import keras_vae (nor Keras), so it proves an export is self-contained.
Usage: `python serving_session_script.py MANIFEST.json`.

The manifest is a list of exports, each `{"export_dir", "out_dir", "calls"}`;
a call is `{"id", "signature", "inputs": {name: .npy path}, "raw"}`. Calls
run in order in one session per export (so random signatures see the saved
seed state, then its updates). A call with `"raw": true` feeds its tensors
through `Session._make_callable_from_options`, which, like the C++ server,
skips the Python client's check of the fed shape against the placeholder.
Each call writes `<out_dir>/<id>.npz` (its outputs) or `<out_dir>/<id>.error`
(`ExceptionType: message`). Prints `RESULT {json}` last.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2


def _run_call(sess, signature, call):
    inputs = {name: np.load(path) for name, path in call["inputs"].items()}
    feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
    keys = sorted(signature.outputs)
    fetches = [signature.outputs[key].name for key in keys]
    if call.get("raw"):
        options = config_pb2.CallableOptions()
        options.feed.extend(feeds)
        options.fetch.extend(fetches)
        values = sess._make_callable_from_options(options)(*feeds.values())
    else:
        values = sess.run(fetches, feeds)
    return dict(zip(keys, values))


def _run_export(entry):
    signatures = None
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], entry["export_dir"])
        signatures = sorted(meta_graph.signature_def)
        for call in entry["calls"]:
            stem = os.path.join(entry["out_dir"], call["id"])
            try:
                signature = meta_graph.signature_def[call["signature"]]
                outputs = _run_call(sess, signature, call)
            except Exception as error:  # noqa: BLE001 - reported to the parent
                with open(stem + ".error", "w") as f:
                    f.write(f"{type(error).__name__}: {error}")
            else:
                np.savez(stem + ".npz", **outputs)
    return signatures


def main(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    result = {}
    for entry in manifest:
        try:
            result[entry["export_dir"]] = {"signatures": _run_export(entry)}
        except Exception as error:  # noqa: BLE001
            message = f"{type(error).__name__}: {error}"
            result[entry["export_dir"]] = {"load_error": message}
    imported = sorted(m for m in sys.modules if m.split(".")[0] in ("keras_vae", "keras"))
    assert "keras_vae" not in sys.modules, imported
    print("RESULT " + json.dumps({"exports": result, "imported": imported}))


if __name__ == "__main__":
    main(sys.argv[1])
