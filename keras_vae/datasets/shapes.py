"""A dSprites-like dataset of 64x64 binary shapes with known generative factors.

Generated offline with numpy (no download), deterministic from a seed: the
test bed of the disentanglement metrics (`keras_vae.diagnostics`).
"""

import numpy as np

SHAPES_FACTORS = {"shape": 3, "scale": 6, "orientation": 40, "x": 32, "y": 32}
"""Factor name -> number of values, in the column order of `shapes` labels.

As in dSprites (Matthey et al., 2017): shape (square, ellipse, heart),
6 scales in [0.5, 1], 40 orientations in [0, 2 pi), 32 x and 32 y positions.
"""

_SIZE = 64
# Half-width of a shape at scale 1, and the range of its centre, in pixels:
# a rotated square at scale 1 (half-diagonal 9 sqrt 2 ~ 12.7) stays inside.
_HALF_WIDTH = 9.0
_CENTRE_RANGE = (14.0, 50.0)
_CHUNK = 512


def shapes(num_examples, seed=0, fixed_factor=None, fixed_value=None):
    """Images of random shapes and their factor labels.

    Each example draws its factors independently and uniformly over the
    values of `SHAPES_FACTORS`, then renders a white shape on black:

    ```none
    s = 0.5 + 0.5 i_scale / 5,   theta = 2 pi i_orientation / 40,
    c = 14 + 36 (i_x, i_y) / 31                      (pixels; 64 x 64 image)
    u = R(-theta) (p - c) / (9 s)                    (p: a pixel centre)
    pixel on  <=>  square: max(|u_1|, |u_2|) <= 1
                   ellipse: u_1^2 + (2 u_2)^2 <= 1
                   heart:  (a^2 + b^2 - 1)^3 - a^2 b^3 <= 0,  (a, b) = (u_1, -u_2) / 0.85
    ```

    Args:
        num_examples: Positive integer, the number of images.
        seed: Integer seed; the same seed gives the same images and labels.
        fixed_factor: Optional factor (a name of `SHAPES_FACTORS` or its
            column index) held at one value over all the examples, for the
            FactorVAE score (`keras_vae.diagnostics.factor_vae_score`).
        fixed_value: The value index of `fixed_factor`; `None` draws one
            from `seed`.

    Returns:
        A pair `(images, factors)`: `float32` images `(num_examples, 64, 64,
        1)` in {0, 1} and `int64` value indices `(num_examples, 5)`, one
        column per factor of `SHAPES_FACTORS`.

    Example:

    >>> images, factors = keras_vae.datasets.shapes(8, seed=0)
    >>> images.shape, factors.shape
    ((8, 64, 64, 1), (8, 5))
    >>> _, fixed = keras_vae.datasets.shapes(4, seed=1, fixed_factor="shape", fixed_value=2)
    >>> fixed[:, 0].tolist()
    [2, 2, 2, 2]
    """
    num_examples = int(num_examples)
    if num_examples < 1:
        raise ValueError(
            f"Expected `num_examples` to be a positive integer. Received: {num_examples!r}"
        )
    rng = np.random.default_rng(seed)
    sizes = np.array(list(SHAPES_FACTORS.values()))
    factors = rng.integers(0, sizes, size=(num_examples, len(sizes)))
    if fixed_factor is not None:
        column = _factor_column(fixed_factor)
        if fixed_value is None:
            fixed_value = int(rng.integers(sizes[column]))
        if not 0 <= int(fixed_value) < sizes[column]:
            raise ValueError(
                f"Expected `fixed_value` in [0, {sizes[column]}) for factor "
                f"{fixed_factor!r}. Received: fixed_value={fixed_value!r}"
            )
        factors[:, column] = int(fixed_value)
    elif fixed_value is not None:
        raise ValueError("`fixed_value` needs a `fixed_factor`.")
    images = np.concatenate(
        [_render(factors[i : i + _CHUNK]) for i in range(0, num_examples, _CHUNK)]
    )
    return images, factors.astype("int64")


def _factor_column(factor):
    names = list(SHAPES_FACTORS)
    if isinstance(factor, str):
        if factor not in names:
            raise ValueError(f"Expected a factor of {names}. Received: {factor!r}")
        return names.index(factor)
    if not 0 <= int(factor) < len(names):
        raise ValueError(f"Expected a factor index in [0, {len(names)}). Received: {factor!r}")
    return int(factor)


def _render(factors):
    """`(n, 64, 64, 1)` float32 images of `(n, 5)` factor indices."""
    shape, scale, orientation, x, y = (factors[:, i, None, None] for i in range(5))
    s = _HALF_WIDTH * (0.5 + 0.5 * scale / (SHAPES_FACTORS["scale"] - 1))
    theta = 2.0 * np.pi * orientation / SHAPES_FACTORS["orientation"]
    low, high = _CENTRE_RANGE
    cx = low + (high - low) * x / (SHAPES_FACTORS["x"] - 1)
    cy = low + (high - low) * y / (SHAPES_FACTORS["y"] - 1)
    rows, cols = np.mgrid[0:_SIZE, 0:_SIZE] + 0.5  # pixel centres
    dx, dy = cols[None] - cx, rows[None] - cy
    cos, sin = np.cos(theta), np.sin(theta)
    u1 = (cos * dx + sin * dy) / s
    u2 = (-sin * dx + cos * dy) / s
    square = np.maximum(np.abs(u1), np.abs(u2)) <= 1.0
    ellipse = np.square(u1) + np.square(2.0 * u2) <= 1.0
    a, b = u1 / 0.85, -u2 / 0.85  # image rows grow downwards: b points up
    heart = (np.square(a) + np.square(b) - 1.0) ** 3 - np.square(a) * b**3 <= 0.0
    on = np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))
    return on[..., None].astype("float32")
