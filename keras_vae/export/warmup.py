"""TF Serving warm-up requests for an export (TensorFlow-only module).

TF Serving replays `assets.extra/tf_serving_warmup_requests` (a TFRecord
file of `PredictionLog` protos) when it loads a version, so every signature
is initialized and optimized before the first real request. The protos come
from the `tensorflow-serving-api` package, an optional dependency
(`pip install keras_vae[serving]`).
"""

import os

import numpy as np
import tensorflow as tf

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2
        from tensorflow_serving.apis import prediction_log_pb2
    except ImportError as error:
        raise ImportError(
            "Writing TF Serving warm-up requests needs the `tensorflow-serving-api` "
            "package: `pip install keras_vae[serving]` (or `pip install "
            "tensorflow-serving-api` matching your TensorFlow version), or pass "
            f"`warmup=False`. Received: warmup=True and ImportError: {error}"
        ) from error
    return predict_pb2, prediction_log_pb2


def check_available():
    """Raise a clear `ImportError` now if the warm-up protos are missing."""
    _serving_apis()


def example_inputs(specs):
    """One valid request per signature: `{input name: numpy array}`.

    A batch of one zero example (zero lies in every likelihood's support and
    is a valid code index) and `num_samples = 1`.
    """
    inputs = {}
    for spec in specs:
        if spec.shape.rank == 0:
            inputs[spec.name] = np.ones((), spec.dtype.as_numpy_dtype)
        else:
            shape = (1,) + tuple(spec.shape[1:])
            inputs[spec.name] = np.zeros(shape, spec.dtype.as_numpy_dtype)
    return inputs


def write_warmup_requests(version_dir, signature_specs, model_name):
    """Write one `PredictionLog` per signature under `version_dir`.

    Args:
        version_dir: The SavedModel directory (`<export_dir>/<version>`).
        signature_specs: Ordered `{signature name: [tf.TensorSpec, ...]}`,
            each spec named after its input.
        model_name: The model's name in TF Serving (`model_spec.name`).

    Returns:
        The path of the file written.
    """
    predict_pb2, prediction_log_pb2 = _serving_apis()
    directory = os.path.join(version_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for name, specs in signature_specs.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = name
            for key, value in example_inputs(specs).items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path
