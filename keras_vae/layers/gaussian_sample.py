"""GaussianSample: reparameterized sampling from a diagonal Gaussian."""

import keras
from keras import ops

from keras_vae.utils import random
from keras_vae.utils.precision import density_layer_kwargs
from keras_vae.utils.seed_streams import SeedStateMixin
from keras_vae.utils.validation import check_optional_positive_int


@keras.saving.register_keras_serializable(package="keras_vae")
class GaussianSample(SeedStateMixin, keras.layers.Layer):
    """Draws `z = loc + scale * eps`, `eps ~ N(0, I)` (reparameterization).

    Gradients flow to `loc` and `scale` (Kingma & Welling 2014). Noise comes
    from a `keras.random.SeedGenerator` owned by the layer, so the layer works
    inside XLA-compiled steps and is reproducible given `seed`.

    Args:
        num_samples: Optional positive integer k. If set, a leading sample axis
            of size k is added: outputs have shape `(k, ...)`. If `None`
            (default) one sample of the input's shape is drawn.
        seed: Optional integer seed.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        loc: Tensor of means.
        scale: Tensor of standard deviations, broadcastable to `loc`.
        num_samples: Optional positive integer overriding the layer's
            `num_samples` for this call.

    Returns:
        Samples of shape `loc.shape` or `(num_samples,) + loc.shape`. The
        layer's dtype defaults to float32 (float64 under a float64 policy)
        whatever the global policy: under mixed precision z stays float32, so
        log q(z | x) and log p(z) are evaluated at the point the decoder sees.

    Example:

    >>> sample = keras_vae.layers.GaussianSample(num_samples=5, seed=1)
    >>> sample(np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")).shape
    TensorShape([5, 2, 3])

    Reference:
        - [Kingma & Welling, 2014](https://arxiv.org/abs/1312.6114)
    """

    def __init__(self, num_samples=None, seed=None, **kwargs):
        super().__init__(**density_layer_kwargs(kwargs))
        self.num_samples = check_optional_positive_int(num_samples, "num_samples")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, loc_shape, scale_shape=None):
        # Named after the call arguments, like `compute_output_shape`: Keras
        # (e.g. `model.summary()`) calls it with the recorded build shapes.
        pass

    def call(self, loc, scale, num_samples=None):
        shape = ops.shape(loc)
        num_samples = self.num_samples if num_samples is None else num_samples
        if num_samples is not None:
            shape = (num_samples,) + tuple(shape)
        eps = random.normal(shape, dtype=loc.dtype, seed=self.seed_generator)
        return loc + scale * eps

    def compute_output_shape(self, loc_shape, scale_shape=None):
        if self.num_samples is None:
            return tuple(loc_shape)
        return (self.num_samples,) + tuple(loc_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_samples": self.num_samples,
            "seed": self.seed,
        }
