"""ImageGrid: grids of samples and reconstructions as PNG and TensorBoard images."""

import math
import os

import keras
import numpy as np

from keras_vae.callbacks.epoch_schedule import EpochSchedule
from keras_vae.callbacks.tensorboard_images import write_image_summary
from keras_vae.utils.optional_tensorflow import import_tensorflow
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_shape


@keras.saving.register_keras_serializable(package="keras_vae")
class ImageGrid(EpochSchedule):
    """Writes grids of samples and reconstructions at the end of epochs.

    ```none
    samples:         mean of p(x | z),  z ~ p(z)          (model.sample)
    reconstructions: mean of p(x | z),  z = E_q[z | x]     (model.reconstruct)
    ```

    After the first epoch of every `fit` call and then every `every` epochs,
    writes `samples_epoch_XXXX.png` (1-based epoch) with `num_images`
    samples into `directory` and, if `x` is given,
    `reconstructions_epoch_XXXX.png`: rows of the first `num_images`
    examples of `x`, each row followed by the row of their reconstructions.
    With `log_dir`, the same grids go to TensorBoard as the images
    `image_grid/samples` and `image_grid/reconstructions` (step = 1-based
    epoch). Pixel values are clipped to [0, 1]. Nothing is computed on the
    other epochs.

    Args:
        directory: Directory of the PNG files (created if missing).
        x: Optional examples to reconstruct, an array. It is data, not
            configuration: `get_config` leaves it out, and a callback
            rebuilt from its config writes samples only until built again
            with it: `ImageGrid(x=x, **config)`.
        num_images: Positive integer, images per grid. Defaults to 64.
        every: Positive integer, write every `every` epochs. Defaults to 1.
        log_dir: Optional TensorBoard log directory.
        image_shape: Optional `(H, W)` or `(H, W, C)` of one image, C in
            1, 3 or 4. Inferred if `None`: data of shape `(H, W)` or
            `(H, W, C)` is used as is; flat vectors of a square length such
            as 784 become square grey images (28 x 28).

    Raises:
        ImportError: if TensorFlow (which encodes and writes the images) is
            not installed.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0, callbacks=[
    ...     keras_vae.callbacks.ImageGrid("grids", x=x_test, log_dir="logs")])
    >>> import os
    >>> sorted(os.listdir("grids"))
    ['reconstructions_epoch_0001.png', 'reconstructions_epoch_0002.png',
     'samples_epoch_0001.png', 'samples_epoch_0002.png']
    """

    requires_x = False

    def __init__(
        self,
        directory,
        x=None,
        num_images=64,
        every=1,
        log_dir=None,
        image_shape=None,
    ):
        super().__init__(every, x)
        # Fail now, not after the first epoch.
        import_tensorflow("keras_vae.callbacks.ImageGrid")
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise ValueError(
                f"Expected `directory` to be a path. Received: directory={directory!r}"
            )
        self.directory = os.fspath(directory)
        self.num_images = check_positive_int(num_images, "num_images")
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.image_shape = None
        if image_shape is not None:
            self.image_shape = check_shape(image_shape, "image_shape")
            if len(self.image_shape) not in (2, 3) or (
                len(self.image_shape) == 3 and self.image_shape[-1] not in (1, 3, 4)
            ):
                raise ValueError(
                    "Expected `image_shape` to be (H, W) or (H, W, C) with C in "
                    f"(1, 3, 4). Received: image_shape={image_shape!r}"
                )
        if self.x is not None:
            self._as_images(self.x[:1])  # fail now on an unusable shape
        self._writer = None

    def measure(self, epoch, logs):
        step = epoch + 1
        grids = {"samples": self._grid(self.model.sample(self.num_images))}
        if self.x is not None:
            shown = self.x[: self.num_images]
            recon = keras.ops.convert_to_numpy(self.model.reconstruct(shown))
            grids["reconstructions"] = self._grid(shown, recon)
        grids = {k: np.round(v * 255.0).astype("uint8") for k, v in grids.items()}
        tf = import_tensorflow("keras_vae.callbacks.ImageGrid")
        os.makedirs(self.directory, exist_ok=True)
        for name, grid in grids.items():
            path = os.path.join(self.directory, f"{name}_epoch_{step:04d}.png")
            tf.io.write_file(path, tf.io.encode_png(grid))
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                for name, grid in grids.items():
                    write_image_summary(f"image_grid/{name}", grid, step)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _as_images(self, batch):
        """`(n, H, W, C)` float images in [0, 1] from a batch of examples."""
        batch = np.asarray(keras.ops.convert_to_numpy(batch), dtype="float32")
        shape = self.image_shape
        if shape is None:
            example = batch.shape[1:]
            side = math.isqrt(example[0]) if len(example) == 1 else 0
            if len(example) == 1 and side * side == example[0]:
                shape = (side, side)
            elif len(example) in (2, 3):
                shape = example
            else:
                raise ValueError(
                    "Cannot infer an image shape from examples of shape "
                    f"{example}: pass `image_shape=(H, W)` or `(H, W, C)`."
                )
        try:
            images = batch.reshape((len(batch),) + tuple(shape))
        except ValueError:
            raise ValueError(
                f"Expected examples of {math.prod(shape)} values for "
                f"image_shape={shape}. Received: examples of shape "
                f"{batch.shape[1:]}"
            ) from None
        if images.ndim == 3:
            images = images[..., None]
        return np.clip(images, 0.0, 1.0)

    def _grid(self, *batches):
        """One image: a grid of the batches' images, rows interleaved."""
        groups = [self._as_images(b) for b in batches]
        n, h, w, c = groups[0].shape
        # Near-square: n * len(groups) images in about as many rows as columns.
        cols = min(n, math.ceil(math.sqrt(n * len(groups))))
        rows = []
        for start in range(0, n, cols):
            for images in groups:
                row = list(images[start : start + cols])
                row += [np.zeros((h, w, c), "float32")] * (cols - len(row))
                rows.append(row)
        pad = 1
        grid = np.full((len(rows) * (h + pad) - pad, cols * (w + pad) - pad, c), 0.5, "float32")
        for r, row in enumerate(rows):
            for col, image in enumerate(row):
                y, x = r * (h + pad), col * (w + pad)
                grid[y : y + h, x : x + w] = image
        return grid

    def get_config(self):
        return {
            "directory": self.directory,
            "num_images": self.num_images,
            "every": self.every,
            "log_dir": self.log_dir,
            "image_shape": None if self.image_shape is None else list(self.image_shape),
        }
