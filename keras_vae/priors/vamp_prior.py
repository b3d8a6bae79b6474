"""VampPrior: a mixture of the encoder's posteriors at learned pseudo-inputs."""

import keras
import numpy as np
from keras import ops

from keras_vae.priors.gaussian_mixture import diagonal_gaussian_mixture_log_prob
from keras_vae.priors.prior import Prior
from keras_vae.utils import random
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_shape

ACTIVATIONS = ("hardtanh", None)


@keras.saving.register_keras_serializable(package="keras_vae")
class VampPrior(Prior):
    """Variational mixture of posteriors prior (Tomczak & Welling, 2018).

    ```none
    p(z) = (1/K) sum_k q(z | u_k),     u_k = a(w_k),  k = 1..K
    log p(z) = logsumexp_k log N(z; mu(u_k), diag sigma(u_k)^2) - log K
    ```

    The K pseudo-inputs are weights of this layer with the encoder's input
    shape; `a` is `Hardtanh(0, 1)` (`"hardtanh"`, for data in [0, 1]) or the
    identity (`None`). The encoder is the model's own: models call
    `attach_encoder` when they are built, so its weights are shared and
    serialized once, with the model. The K pseudo-inputs are encoded once per
    call of `log_prob` or `sample`, which models make once per step, whatever
    the number of samples of z.

    With `trainable_pseudo_inputs=False` and `pseudo_inputs_initializer` set
    to K training examples this is the paper's "VampPrior data" variant.

    Args:
        num_components: Positive integer K (500 for MNIST in the paper).
        pseudo_input_shape: Shape of one pseudo-input (the encoder's input
            shape without the batch axis). Taken from the model if `None`.
        pseudo_inputs_initializer: A Keras initializer of the pre-activation
            weights, or an array of K initial pseudo-inputs (e.g. a batch of
            training data, values in [0, 1] with `"hardtanh"`). Defaults to
            the paper's `RandomNormal(0.05, 0.01)`. Array values are carried
            by the saved weights, not by the config.
        activation: `"hardtanh"` (clip to [0, 1], the paper's choice for
            binary and grey-level images) or `None` for unbounded data.
        trainable_pseudo_inputs: Whether the pseudo-inputs are learned.
        latent_dim: Optional latent size; set by the model if `None`.
        seed: Optional integer seed of `sample` and the default initializer.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> vae = keras_vae.models.VAE(  # the paper: latent_dim=40, VampPrior(500)
    ...     latent_dim=4, hidden_units=(32,), prior=keras_vae.priors.VampPrior(50))
    >>> vae.compile(optimizer=keras.optimizers.Adam(5e-4))
    >>> history = vae.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> images = keras.ops.convert_to_numpy(vae.prior.pseudo_inputs)
    >>> images.shape  # 50 pseudo-inputs of the data's shape (8x8 digits)
    (50, 8, 8, 1)

    Standalone, with any layer returning a Gaussian posterior `(loc, scale)`:

    >>> prior = keras_vae.priors.VampPrior(
    ...     10, pseudo_input_shape=(784,), latent_dim=2)
    >>> posterior_layer = keras.Sequential([
    ...     keras.layers.Dense(64, activation="relu"),
    ...     keras_vae.layers.GaussianParameters(2)])
    >>> prior.attach_encoder(posterior_layer)
    >>> z = np.zeros((3, 2), "float32")
    >>> prior.log_prob(z).shape
    TensorShape([3])

    Reference:
        - [Tomczak & Welling, 2018](https://arxiv.org/abs/1705.07120)
    """

    def __init__(
        self,
        num_components=500,
        pseudo_input_shape=None,
        pseudo_inputs_initializer=None,
        activation="hardtanh",
        trainable_pseudo_inputs=True,
        latent_dim=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(latent_dim=latent_dim, seed=seed, **kwargs)
        self.num_components = check_positive_int(num_components, "num_components")
        if activation not in ACTIVATIONS:
            raise ValueError(
                "Expected `activation` to be 'hardtanh' (Hardtanh(0, 1), for "
                "data in [0, 1]) or None (unbounded data). Received: "
                f"activation={activation!r}"
            )
        self.activation = activation
        self.trainable_pseudo_inputs = bool(trainable_pseudo_inputs)
        self.pseudo_input_shape = None
        if pseudo_input_shape is not None:
            self.pseudo_input_shape = check_shape(pseudo_input_shape, "pseudo_input_shape")
        self._initial_values = None
        if pseudo_inputs_initializer is None:
            pseudo_inputs_initializer = keras.initializers.RandomNormal(
                mean=0.05, stddev=0.01, seed=seed
            )
        if isinstance(pseudo_inputs_initializer, (np.ndarray, list)) or ops.is_tensor(
            pseudo_inputs_initializer
        ):
            self._initial_values = self._check_initial_values(pseudo_inputs_initializer)
            self.pseudo_inputs_initializer = None
        else:
            self.pseudo_inputs_initializer = keras.initializers.get(pseudo_inputs_initializer)
        # A bound method or a layer's `__call__`: not tracked, so the
        # encoder's weights belong to the model only.
        self._encode = None

    def _check_initial_values(self, values):
        values = np.asarray(values, dtype="float32")
        if values.ndim < 2 or values.shape[0] != self.num_components:
            raise ValueError(
                f"Expected `pseudo_inputs_initializer` values of shape "
                f"(num_components={self.num_components}, ...) with one row per "
                f"pseudo-input. Received: shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("Expected finite `pseudo_inputs_initializer` values.")
        if self.activation == "hardtanh" and (values.min() < 0 or values.max() > 1):
            raise ValueError(
                "Expected `pseudo_inputs_initializer` values in [0, 1] with "
                "activation='hardtanh'. Received: min="
                f"{values.min():g}, max={values.max():g}"
            )
        self._set_shape(values.shape[1:], "the `pseudo_inputs_initializer` values")
        return values

    def _set_shape(self, shape, source):
        shape = check_shape(tuple(shape), "pseudo_input_shape")
        if self.pseudo_input_shape is not None and shape != self.pseudo_input_shape:
            raise ValueError(
                f"Expected pseudo-inputs of shape {self.pseudo_input_shape} to match "
                f"{source}. Received: shape {shape}"
            )
        self.pseudo_input_shape = shape

    def attach_encoder(self, encoder, input_shape=None):
        """Use `encoder` (x -> `(loc, scale)` of q(z | x)) for the components.

        Args:
            encoder: A callable or layer mapping a batch of inputs to the
                location and scale of a diagonal Gaussian posterior.
            input_shape: The encoder's input shape without the batch axis;
                must match `pseudo_input_shape` when both are known.
        """
        if not callable(encoder):
            raise ValueError(
                "Expected `encoder` to be a callable returning the Gaussian "
                f"posterior (loc, scale). Received: encoder={encoder!r}"
            )
        if input_shape is not None:
            self._set_shape(input_shape, "the encoder's input shape")
        if isinstance(encoder, keras.layers.Layer):
            # Inference mode: pseudo-inputs must not update batch statistics.
            def encode(x):
                return encoder(x, training=False)

            self._encode = encode
        else:
            self._encode = encoder

    def build_prior(self):
        if self.pseudo_input_shape is None:
            raise ValueError(
                "VampPrior does not know the pseudo-input shape. Pass "
                "`pseudo_input_shape=` or use it inside a keras_vae model."
            )
        shape = (self.num_components,) + self.pseudo_input_shape
        initializer = self.pseudo_inputs_initializer
        if self._initial_values is not None:
            initializer = keras.initializers.Constant(0.0)
        self.pseudo_input_weights = self.add_weight(
            name="pseudo_input_weights",
            shape=shape,
            initializer=initializer,
            trainable=self.trainable_pseudo_inputs,
            autocast=False,
        )
        if self._initial_values is not None:
            self.pseudo_input_weights.assign(self._initial_values)
            self._initial_values = None

    @property
    def pseudo_inputs(self):
        """The K pseudo-inputs u_k = a(w_k), shape `(K,) + pseudo_input_shape`."""
        self.check_built()
        u = ops.cast(self.pseudo_input_weights, "float32")
        return ops.clip(u, 0.0, 1.0) if self.activation == "hardtanh" else u

    def components(self):
        """`(loc, scale)` of the K mixture components, each `(K, latent_dim)`."""
        self.check_built()
        if self._encode is None:
            raise ValueError(
                "VampPrior has no encoder. Use it as the prior of a keras_vae "
                "model, or call `attach_encoder(encoder)` first."
            )
        return self._check_posterior(self._encode(self.pseudo_inputs))

    def _check_posterior(self, out):
        want = (self.num_components, self.latent_dim)
        if (
            not isinstance(out, (tuple, list))
            or len(out) != 2
            or any(tuple(t.shape) != want for t in out)
        ):
            got = (
                [tuple(t.shape) for t in out]
                if isinstance(out, (tuple, list))
                else getattr(out, "shape", type(out).__name__)
            )
            raise ValueError(
                "Expected the encoder to return a Gaussian posterior "
                f"(loc, scale), two tensors of shape {want} for the "
                f"{self.num_components} pseudo-inputs. Received: {got}"
            )
        return out

    def log_prob(self, z):
        loc, scale = self.components()
        return diagonal_gaussian_mixture_log_prob(z, loc, scale)

    def sample(self, num_samples):
        loc, scale = self.components()
        logits = ops.zeros((1, self.num_components))
        idx = random.categorical(logits, num_samples, seed=self.seed_generator)[0]
        eps = random.normal((num_samples, self.latent_dim), seed=self.seed_generator)
        return ops.take(loc, idx, axis=0) + ops.take(scale, idx, axis=0) * eps

    def get_config(self):
        initializer = self.pseudo_inputs_initializer
        return {
            **super().get_config(),
            "num_components": self.num_components,
            "pseudo_input_shape": (
                None if self.pseudo_input_shape is None else list(self.pseudo_input_shape)
            ),
            "pseudo_inputs_initializer": (
                None if initializer is None else keras.initializers.serialize(initializer)
            ),
            "activation": self.activation,
            "trainable_pseudo_inputs": self.trainable_pseudo_inputs,
        }
