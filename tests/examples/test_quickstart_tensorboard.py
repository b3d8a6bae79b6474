"""The quickstart's `--tensorboard DIR` logging: per-term scalars and image grids.

Runs the example's own callbacks (`tensorboard_callbacks`) on a tiny model
and reads the event files back with TensorFlow's summary iterator.
"""

import glob
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_vae

pytest.importorskip("tensorboard", reason="keras.callbacks.TensorBoard needs it")

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "train.py"


def _quickstart():
    spec = importlib.util.spec_from_file_location("quickstart_train", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tags(directory):
    """{tag: [step, ...]} of every event file under `directory`."""
    tags = {}
    for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_tensorboard_flag_logs_scalars_and_grids(tmp_path):
    quickstart = _quickstart()
    args = quickstart.parse_args(["--tensorboard", str(tmp_path / "logs"), "--epochs", "2"])
    assert args.tensorboard == str(tmp_path / "logs")
    assert quickstart.parse_args([]).tensorboard is None

    x = (np.random.RandomState(0).uniform(size=(16, 8, 8, 1)) < 0.5).astype("float32")
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
    model.compile(optimizer="adam")
    callbacks = quickstart.tensorboard_callbacks(args.tensorboard, x, 2, str(tmp_path))
    callbacks.append(keras_vae.callbacks.KLWarmUp(2))
    model.fit(x, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)

    scalars = _tags(os.path.join(args.tensorboard, "train"))
    for term in ("loss", "elbo", "reconstruction", "kl", "beta"):
        assert scalars.get(f"epoch_{term}") == [0, 1], (term, sorted(scalars))
    images = _tags(os.path.join(args.tensorboard, "images"))
    assert images.get("image_grid/samples") == [1, 2], sorted(images)
    assert images.get("image_grid/reconstructions") == [1, 2], sorted(images)
