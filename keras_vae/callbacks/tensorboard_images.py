"""One TensorBoard image summary, written without the `tensorboard` package."""

import numpy as np

from keras_vae.utils.optional_tensorflow import import_tensorflow


def write_image_summary(tag, image, step):
    """Writes one image to the default `tf.summary` writer, as TensorBoard does.

    ```none
    event value: tag, step, plugin "images",
                 tensor = [str(width), str(height), PNG(image)]   (strings)
    ```

    `tf.summary.image` (what Keras's `TensorBoard` callback calls for
    `write_images=True`, in `keras/src/callbacks/tensorboard.py`) is provided
    by the `tensorboard` package, which TensorFlow no longer installs. This
    function writes the same event as TensorBoard's
    `tensorboard/plugins/image/summary_v2.py::image` for one uint8 image:
    the rank-1 string tensor `[width, height, png]` under the metadata of
    `tensorboard/plugins/image/metadata.py::create_summary_metadata` (plugin
    name `"images"`; its content, an `ImagePluginData` of version 0,
    serializes to empty bytes). It relies on two TF APIs only:
    `tf.summary.write` and the summary-metadata protobuf, public as
    `tf.compat.v1.SummaryMetadata`; `tests/callbacks/test_tensorboard_images.py`
    fails if either goes away or if the event differs from
    `tf.summary.image`'s.

    Args:
        tag: String, the image's name in TensorBoard.
        image: Uint8 array of shape `(height, width, channels)`, channels in
            1, 2, 3 or 4.
        step: Integer step of the event (e.g. the 1-based epoch).

    Returns:
        `True` if the event was written, `False` if no default writer is set.

    Raises:
        ImportError: if TensorFlow is not installed.

    Example:

    >>> writer = tf.summary.create_file_writer("logs")
    >>> with writer.as_default():
    ...     write_image_summary("grid", np.zeros((4, 6, 1), "uint8"), step=1)
    True
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            "Expected `image` to be a uint8 array of shape (height, width, "
            f"channels) with 1 to 4 channels. Received: image of dtype "
            f"{image.dtype} and shape {image.shape}"
        )
    tf = import_tensorflow("TensorBoard images (`write_image_summary`)")
    height, width = image.shape[:2]
    metadata = tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="images")
    )
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), tf.io.encode_png(image)])
    return bool(tf.summary.write(tag, tensor, step=step, metadata=metadata))
