"""ImageGrid: PNG files and TensorBoard images of samples and reconstructions."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae
from keras_vae import testing
from keras_vae.callbacks import ImageGrid


def _data(n=20, shape=(36,)):
    rng = np.random.RandomState(0)
    return (rng.uniform(size=(n,) + shape) < 0.4).astype("float32")


def _png(path):
    return tf.io.decode_png(tf.io.read_file(path)).numpy()


def _tensorboard_images(log_dir):
    """{(tag, step): (plugin, width, height, decoded PNG)} of the event files."""
    images = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                width, height, png = tf.make_ndarray(value.tensor)
                images[value.tag, event.step] = (
                    value.metadata.plugin_data.plugin_name,
                    int(width),
                    int(height),
                    tf.io.decode_png(png).numpy(),
                )
    return images


class ImageGridTest(testing.TestCase):
    def test_writes_png_files_and_tensorboard_images(self):
        x = _data()  # flat 36-vectors: 6 x 6 images
        model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
        # No XLA (~5 s a model): the callback runs on the host between
        # executions; every model's XLA training is the conformance suite's.
        model.compile(optimizer="adam", jit_compile=False)
        out, logs = self.get_temp_dir(), self.get_temp_dir()
        grid = ImageGrid(out, x=x, num_images=4, every=2, log_dir=logs)
        model.fit(x, epochs=2, batch_size=10, verbose=0, callbacks=[grid])
        names = sorted(os.listdir(out))
        self.assertEqual(
            names,
            [
                "reconstructions_epoch_0001.png",
                "reconstructions_epoch_0002.png",
                "samples_epoch_0001.png",
                "samples_epoch_0002.png",
            ],
        )
        # 4 images of 6 x 6 in rows of ceil(sqrt(8)) = 3, 1-pixel gaps: an
        # image row and its reconstruction row per 3 images, 2 row pairs.
        recon = _png(os.path.join(out, "reconstructions_epoch_0002.png"))
        self.assertEqual(recon.shape, (4 * 7 - 1, 3 * 7 - 1, 1))
        self.assertAllClose(recon[:6, :6, 0], x[0].reshape(6, 6) * 255)
        want = keras.ops.convert_to_numpy(model.reconstruct(x[:1])).reshape(6, 6)
        self.assertAllClose(recon[7:13, :6, 0], np.round(want * 255), atol=1)
        samples = _png(os.path.join(out, "samples_epoch_0001.png"))
        self.assertEqual(samples.shape, (2 * 7 - 1, 2 * 7 - 1, 1))
        images = _tensorboard_images(logs)
        self.assertEqual(
            sorted(images),
            [
                ("image_grid/reconstructions", 1),
                ("image_grid/reconstructions", 2),
                ("image_grid/samples", 1),
                ("image_grid/samples", 2),
            ],
        )
        plugin, width, height, image = images["image_grid/reconstructions", 2]
        self.assertEqual((plugin, width, height), ("images", 20, 27))
        self.assertAllClose(image, recon)

    def test_samples_only_for_image_data(self):
        model = keras_vae.models.VAE(latent_dim=2, hidden_units=(8,), seed=0)
        model.compile(optimizer="adam", jit_compile=False)
        out = self.get_temp_dir()
        model.fit(
            _data(shape=(5, 4, 1)), epochs=1, batch_size=10, verbose=0,
            callbacks=[ImageGrid(out, num_images=6)],
        )  # fmt: skip
        self.assertEqual(os.listdir(out), ["samples_epoch_0001.png"])
        # 6 images of 5 x 4 in rows of 3.
        self.assertEqual(_png(os.path.join(out, "samples_epoch_0001.png")).shape, (11, 14, 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, r"`every` to be a positive integer"),
        ({"num_images": 0}, r"`num_images` to be a positive integer"),
        ({"directory": None}, r"`directory` to be a path"),
        ({"image_shape": (6, 6, 2)}, r"\(H, W\) or \(H, W, C\)"),
        ({"image_shape": (5, 5)}, r"25 values for image_shape=\(5, 5\).*\(36,\)"),
        ({"x": _data(shape=(35,))}, r"Cannot infer an image shape.*\(35,\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageGrid(**{"directory": "grids", "x": _data(4), **kwargs})
