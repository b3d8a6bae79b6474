"""Base class of observation models p(x | z)."""

import math

import keras
from keras import ops

from keras_vae.utils.precision import density_layer_kwargs
from keras_vae.utils.seed_streams import SeedStateMixin


class Likelihood(SeedStateMixin, keras.layers.Layer):
    """Observation model p(x | z) parameterized by the decoder's output.

    The decoder maps z to `params` with the shape of x (for example Bernoulli
    logits). A likelihood turns `params` into a log-density, a mean and
    samples. Subclasses implement `_log_prob_elementwise`, `mean` and
    `sample`.

    Args:
        seed: Optional integer seed of `sample` when no seed generator is
            passed to it.
        **kwargs: Base layer keyword arguments.

    `log_prob(x, params)` sums the element-wise log-density over every axis of
    `x` but the first (the batch axis). `params` may carry extra leading
    sample axes, which broadcast against `x` and are kept in the output.

    The layer's dtype defaults to float32 (float64 under a float64 policy)
    whatever the global policy: under mixed precision the decoder runs in
    the compute dtype and its outputs are cast to float32 here, so
    log-densities, means and samples are float32.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**density_layer_kwargs(kwargs))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def log_prob(self, x, params):
        """Log-density of `x`, summed over its event axes, in float32.

        Args:
            x: Observations of shape `(batch,) + event_shape`.
            params: Decoder outputs of shape `(..., batch) + event_shape`.

        Returns:
            Tensor of shape `(..., batch)`.
        """
        x = ops.cast(x, "float32")
        params = ops.cast(params, "float32")
        event_ndims = len(x.shape) - 1
        log_p = self._log_prob_elementwise(x, params)
        if event_ndims == 0:
            return log_p
        return sum_last_axes(log_p, event_ndims)

    def _log_prob_elementwise(self, x, params):
        raise NotImplementedError

    def mean(self, params):
        """Mean of p(x | z) given the decoder outputs."""
        raise NotImplementedError

    def sample(self, params, seed=None):
        """A sample of p(x | z) given the decoder outputs."""
        raise NotImplementedError

    def build(self, params_shape):
        # Named after the call argument, like `compute_output_shape`: Keras
        # (e.g. `model.summary()`) calls it with the recorded build shapes.
        pass

    def call(self, params):
        return self.mean(params)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    def compute_output_shape(self, params_shape):
        return tuple(params_shape)


def sum_last_axes(values, ndims):
    """Sum of `values` over its last `ndims` axes, as a matmul with ones.

    XLA:CPU fuses the element-wise producer of `values` (a log-density per
    pixel) into the matmul and runs it on every core; the row reduction it
    replaces took 23 ms against 16 ms on two cores for one (21000, 784)
    log-likelihood chunk.

    >>> sum_last_axes(np.ones((2, 3, 4), "float32"), 2).numpy().tolist()
    [12.0, 12.0]
    """
    values = ops.convert_to_tensor(values)
    split = len(values.shape) - ndims
    event = values.shape[split:]
    if None in event:  # not known when traced: no matmul of unknown size
        return ops.sum(values, axis=tuple(range(split, len(values.shape))))
    size = math.prod(event)
    flat = ops.reshape(values, (-1, size))
    return ops.reshape(
        ops.matmul(flat, ops.ones((size, 1), values.dtype)), ops.shape(values)[:split]
    )
