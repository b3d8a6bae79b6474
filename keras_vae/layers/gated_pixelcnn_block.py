"""GatedPixelCNNBlock: one layer of the gated PixelCNN's two causal stacks."""

import keras
from keras import ops

from keras_vae.utils.validation import check_positive_int


def _shift_down(x):
    """Move a `(batch, h, w, c)` map one row down (zeros enter at the top)."""
    return ops.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def _shift_right(x):
    """Move a `(batch, h, w, c)` map one column right (zeros enter at the left)."""
    return ops.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


def _gate(x):
    value, gate = ops.split(x, 2, axis=-1)
    return ops.tanh(value) * ops.sigmoid(gate)


@keras.saving.register_keras_serializable(package="keras_vae")
class GatedPixelCNNBlock(keras.layers.Layer):
    """A gated PixelCNN layer: a vertical and a horizontal causal stack.

    Position (i, j) of the output may depend only on inputs that precede it
    in raster order (rows above; same row, columns to the left), and with
    `mask_type="B"` on position (i, j) itself. With n = kernel_size // 2:

    ```none
    v' = conv_v(v)       kernel (n + 1) x (2n + 1) over rows i-n .. i
    h' = conv_h(h_in)    kernel 1 x (n + 1)        over columns j-n .. j
         + conv_1x1(shift_down(v'))                rows < i only
    v_out = tanh(v'_a) * sigmoid(v'_b)
    h_out = h + conv_1x1(tanh(h'_a) * sigmoid(h'_b))     (mask "B")
    h_out =     conv_1x1(tanh(h'_a) * sigmoid(h'_b))     (mask "A")
    ```

    With mask "A" (the first layer) h_in is h shifted one column right, so
    the horizontal stack never sees position (i, j) itself, and there is no
    residual connection from it; mask "B" (later layers) sees (i, j), which by
    then only carries earlier inputs. The vertical stack covers the rows
    up to i (row i included) but reaches the horizontal stack only shifted
    one row down, so it adds rows above in full width: no blind spot (van
    den Oord et al., 2016). The masked kernels of the paper are realized by
    causal padding and shifts, which is equivalent and skips the zeroed
    weights.

    Args:
        filters: Positive integer, channels of both stacks.
        kernel_size: Odd positive integer k. Defaults to 3.
        mask_type: `"A"` (first layer) or `"B"`. Defaults to `"B"`.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        inputs: A pair `(v, h)` of `(batch, height, width, channels)` maps;
            the first layer gets the same input map twice.

    Returns:
        The pair `(v_out, h_out)`, each `(batch, height, width, filters)`.

    Example:

    >>> block = keras_vae.layers.GatedPixelCNNBlock(16, mask_type="A")
    >>> x = np.zeros((2, 7, 7, 16), "float32")
    >>> v, h = block((x, x))
    >>> v.shape, h.shape
    (TensorShape([2, 7, 7, 16]), TensorShape([2, 7, 7, 16]))

    Reference:
        - [van den Oord et al., 2016](https://arxiv.org/abs/1606.05328)
    """

    def __init__(self, filters, kernel_size=3, mask_type="B", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        kernel_size = check_positive_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(
                "Expected `kernel_size` to be an odd positive integer. "
                f"Received: kernel_size={kernel_size}"
            )
        self.kernel_size = kernel_size
        if mask_type not in ("A", "B"):
            raise ValueError(
                f"Expected `mask_type` to be 'A' or 'B'. Received: mask_type={mask_type!r}"
            )
        self.mask_type = mask_type
        n = kernel_size // 2
        self.vertical = keras.layers.Conv2D(2 * filters, (n + 1, 2 * n + 1), name="vertical")
        self.horizontal = keras.layers.Conv2D(2 * filters, (1, n + 1), name="horizontal")
        self.vertical_to_horizontal = keras.layers.Conv2D(2 * filters, 1, name="v_to_h")
        self.horizontal_out = keras.layers.Conv2D(filters, 1, name="h_out")

    def build(self, input_shape):
        v_shape, h_shape = (tuple(s) for s in input_shape)
        if len(v_shape) != 4 or len(h_shape) != 4:
            raise ValueError(
                "Expected a pair of (batch, height, width, channels) maps. "
                f"Received: input shapes {v_shape} and {h_shape}"
            )
        if self.mask_type == "B" and h_shape[-1] != self.filters:
            raise ValueError(
                f"Expected the horizontal input of a mask 'B' block to have "
                f"filters={self.filters} channels (it is added to the output). "
                f"Received: {h_shape[-1]} channels"
            )
        gated = v_shape[:-1] + (2 * self.filters,)
        n = self.kernel_size // 2
        grow = lambda d, k: None if d is None else d + k  # noqa: E731
        # The convolutions run on causally padded maps (see `call`).
        self.vertical.build((v_shape[0], grow(v_shape[1], n), grow(v_shape[2], 2 * n), v_shape[3]))
        self.horizontal.build(h_shape[:2] + (grow(h_shape[2], n), h_shape[3]))
        self.vertical_to_horizontal.build(gated)
        self.horizontal_out.build(h_shape[:-1] + (self.filters,))

    def call(self, inputs):
        v, h = inputs
        n = self.kernel_size // 2
        # Rows i-n .. i, columns j-n .. j+n: pad n rows on top, n columns each side.
        v_pre = self.vertical(ops.pad(v, ((0, 0), (n, 0), (n, n), (0, 0))))
        h_in = _shift_right(h) if self.mask_type == "A" else h
        h_pre = self.horizontal(ops.pad(h_in, ((0, 0), (0, 0), (n, 0), (0, 0))))
        h_pre = h_pre + self.vertical_to_horizontal(_shift_down(v_pre))
        h_out = self.horizontal_out(_gate(h_pre))
        if self.mask_type == "B":
            h_out = h + h_out
        return _gate(v_pre), h_out

    def compute_output_shape(self, input_shape):
        v_shape, h_shape = (tuple(s) for s in input_shape)
        return v_shape[:-1] + (self.filters,), h_shape[:-1] + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
        }
