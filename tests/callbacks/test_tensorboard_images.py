"""write_image_summary: the TF APIs it needs exist, and it writes tf.summary.image's event.

If TensorFlow removes `tf.summary.write` or `tf.compat.v1.SummaryMetadata`,
or changes the event format, these tests fail: `ImageGrid`'s TensorBoard
images then need a new implementation (or the `tensorboard` package).
"""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_vae import testing
from keras_vae.callbacks.tensorboard_images import write_image_summary


def _events(log_dir):
    """[(tag, step, metadata, tensor)] of the event files of `log_dir`."""
    out = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.append((value.tag, event.step, value.metadata, value.tensor))
    return out


def _image(channels=3):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 7, channels)).astype("uint8")


class WriteImageSummaryTest(testing.TestCase):
    def test_the_tensorflow_apis_it_relies_on_exist(self):
        self.assertTrue(callable(tf.summary.write))
        self.assertTrue(callable(tf.summary.create_file_writer))
        metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="images")
        )
        self.assertEqual(metadata.plugin_data.plugin_name, "images")

    def test_event_decodes_to_the_image(self):
        log_dir, image = self.get_temp_dir(), _image()
        with tf.summary.create_file_writer(log_dir).as_default():
            self.assertTrue(write_image_summary("a/grid", image, step=3))
        [(tag, step, metadata, tensor)] = _events(log_dir)
        self.assertEqual((tag, step), ("a/grid", 3))
        self.assertEqual(metadata.plugin_data.plugin_name, "images")
        width, height, png = tf.make_ndarray(tensor)
        self.assertEqual((int(width), int(height)), (7, 5))
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)

    def test_no_default_writer_writes_nothing(self):
        self.assertFalse(write_image_summary("grid", _image(), step=1))

    def test_same_event_as_tf_summary_image(self):
        # The oracle: TensorBoard's own image summary (test extra).
        pytest.importorskip("tensorboard")
        image = _image(1)
        ours, theirs = self.get_temp_dir(), self.get_temp_dir()
        with tf.summary.create_file_writer(ours).as_default():
            write_image_summary("grid", image, step=2)
        with tf.summary.create_file_writer(theirs).as_default():
            tf.summary.image("grid", image[None], step=2)
        [a], [b] = _events(ours), _events(theirs)
        self.assertEqual(a[:2], b[:2])
        self.assertEqual(a[2].plugin_data.plugin_name, b[2].plugin_data.plugin_name)
        # TensorBoard's metadata content is ImagePluginData(version=0): empty.
        self.assertEqual(a[2].plugin_data.content, b[2].plugin_data.content)
        np.testing.assert_array_equal(tf.make_ndarray(a[3]), tf.make_ndarray(b[3]))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4, 1), "float32"),
        np.zeros((4, 4), "uint8"),
        np.zeros((4, 4, 5), "uint8"),
    ],
)
def test_bad_images_raise(image):
    with pytest.raises(ValueError, match=r"uint8 array of shape \(height, width"):
        write_image_summary("grid", image, step=1)
