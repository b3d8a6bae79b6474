"""PixelCNN: a gated PixelCNN, the VQ-VAE's prior over its discrete code maps."""

import math

import keras
import numpy as np
from keras import ops

from keras_vae.layers.gated_pixelcnn_block import GatedPixelCNNBlock
from keras_vae.models.vq_networks import check_code_map
from keras_vae.trainers import compile_function
from keras_vae.trainers import replicas_in_step
from keras_vae.trainers.guarded_steps import bind_arguments
from keras_vae.utils import random
from keras_vae.utils import seed_streams
from keras_vae.utils.validation import check_no_labels
from keras_vae.utils.validation import check_no_sample_weight
from keras_vae.utils.validation import check_positive_int
from keras_vae.utils.validation import check_shape

LOG2 = math.log(2.0)


@keras.saving.register_keras_serializable(package="keras_vae")
class PixelCNN(seed_streams.SeedStateMixin, keras.Model):
    """Gated PixelCNN: the VQ-VAE's autoregressive prior p(z) over `(h, w)`
    maps of codes in {0 .. K-1}.

    It is a `keras.Model` trained on code maps, not a `keras_vae.priors.Prior`
    (those are densities over continuous latents used inside a model's
    bound): a `VQVAE` is trained first, then its codes train this prior.

    ```none
    p(z) = prod_{t=1..hw} p(z_t | z_<t)          (raster order)
    logits(z)_t = head(h_L),  (v_l, h_l) = GatedPixelCNNBlock_l(v_{l-1}, h_{l-1}),
                  v_0 = h_0 = embedding(z),  block 1 with mask "A", then "B"
    loss  = -(1 / hw) sum_t log p(z_t | z_<t)      nats per code (cross-entropy)
    bits_per_code = loss / log 2
    ```

    Train it with `fit(codes)` on int code maps, e.g. `vqvae.encode(x_train)`
    of a trained (frozen) `VQVAE`: no targets, the model predicts its input
    shifted by the causal mask. `fit` reports `loss` (nats per code
    position) and `bits_per_code`; `log_prob(codes)` is the log-likelihood
    of whole maps in nats. As for every keras_vae model the loss is the
    unweighted batch mean: `sample_weight`, `class_weight` and targets `y`
    are refused with a `ValueError` (override `compute_loss` to weight).

    Given a VQVAE with a likelihood, `bits_per_dim(vqvae, x)` is the VQ-VAE
    paper's figure: q(z|x) is a point mass at the codes z(x) of x, so the
    ELBO is log p(x | z_q(x)) + log p(z(x)) (no entropy term) and

    ```none
    bits/dim = -(log p(x | z_q(x)) + log p(z(x))) / (N log 2)  >=  -log2 p(x) / N
    ```

    with N the number of data dimensions. It bounds the negative
    log-likelihood only for a discrete likelihood: the discretized logistic
    over 8-bit intensities (or a Bernoulli on binary data).

    `sample(n)` draws code maps position by position, one network pass per
    position inside a single XLA-compiled loop; `sample_images(vqvae, n)`
    decodes them.

    Args:
        num_embeddings: Positive integer K, the codebook size.
        code_shape: `(h, w)` of the code maps.
        filters: Channels of the embedding, the stacks and the head.
            Defaults to 64.
        num_layers: Gated blocks. Defaults to 8 (with `kernel_size=3` the
            receptive field covers every earlier position of a 7x7 map).
        kernel_size: Odd kernel size of the stacks. Defaults to 3.
        seed: Optional integer seed of `sample` and of the initial weights
            (each from its own stream of the seed). The sampler's state is saved
            with the model.
        **kwargs: `keras.Model` keyword arguments.

    Call arguments:
        codes: Int code maps `(batch, h, w)`. Returns float32 logits
            `(batch, h, w, K)`; position t depends on positions < t only.

    Example:

    >>> vqvae = keras_vae.models.VQVAE(
    ...     num_embeddings=16, embedding_dim=4, filters=16, residual_units=8,
    ...     likelihood="bernoulli", seed=0)
    >>> vqvae.compile(optimizer="adam")
    >>> history = vqvae.fit(x_train, epochs=1, batch_size=128, verbose=0)
    >>> codes = vqvae.encode(x_train)
    >>> prior = keras_vae.models.PixelCNN(
    ...     vqvae.num_embeddings, vqvae.code_shape, filters=16, num_layers=2, seed=0)
    >>> prior.compile(optimizer="adam")
    >>> history = prior.fit(codes, epochs=1, batch_size=128, verbose=0)
    >>> images = prior.sample_images(vqvae, 16)
    >>> images.shape
    TensorShape([16, 8, 8, 1])
    >>> prior.bits_per_dim(vqvae, x_test).shape  # one value per test image
    (300,)

    Reference:
        - [van den Oord et al., 2016](https://arxiv.org/abs/1606.05328)
          (gated PixelCNN)
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """

    # Maps per eager chunk of `log_prob`.
    batch_size = 512

    def __init__(
        self,
        num_embeddings,
        code_shape,
        filters=64,
        num_layers=8,
        kernel_size=3,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.code_shape = check_shape(code_shape, "code_shape")
        if len(self.code_shape) != 2:
            raise ValueError(
                f"Expected `code_shape` to be (height, width). Received: code_shape={code_shape!r}"
            )
        self.filters = check_positive_int(filters, "filters")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(
            seed_streams.stream_seed(seed, "sample"), name="sample_seed_generator"
        )
        # With a seed, the initial weights come from the seed's stream too.
        with seed_streams.seeded_construction(seed, "networks"):
            self.embedding = keras.layers.Embedding(num_embeddings, filters, name="embedding")
            self.blocks = [
                GatedPixelCNNBlock(
                    filters, kernel_size, "A" if i == 0 else "B", name=f"gated_block_{i}"
                )
                for i in range(num_layers)
            ]
            self.head_hidden = keras.layers.Conv2D(
                filters, 1, activation="relu", name="head_hidden"
            )
            self.head_logits = keras.layers.Conv2D(num_embeddings, 1, name="head_logits")
        self.bits_tracker = keras.metrics.Mean(name="bits_per_code")
        self.build((None,) + self.code_shape)

    def build(self, input_shape):
        if tuple(input_shape[1:]) != self.code_shape:
            raise ValueError(
                f"Expected code maps of shape (batch,) + {self.code_shape}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        features = (None,) + self.code_shape + (self.filters,)
        self.embedding.build((None,) + self.code_shape)
        for block in self.blocks:
            block.build((features, features))
        self.head_hidden.build(features)
        self.head_logits.build(features)
        self.built = True

    def call(self, codes):
        if tuple(codes.shape[1:]) != self.code_shape:
            raise ValueError(
                f"Expected code maps of shape (batch,) + {self.code_shape}. "
                f"Received: codes.shape={tuple(codes.shape)}"
            )
        x = self.embedding(ops.cast(codes, "int32"))
        v, h = x, x
        for block in self.blocks:
            v, h = block((v, h))
        logits = self.head_logits(self.head_hidden(ops.relu(h)))
        return ops.cast(logits, "float32")

    # ------------------------------------------------------------- training
    def _nll_per_code(self, codes, logits):
        """`(batch, h, w)` negative log-probabilities in nats."""
        return ops.sparse_categorical_crossentropy(
            ops.cast(codes, "int32"), logits, from_logits=True
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean cross-entropy of the codes `x` in nats per position.

        Unweighted, as every keras_vae objective: a `sample_weight` (or
        targets `y`) is refused, not ignored. To weight the maps, override
        this method: the per-map loss is
        `ops.mean(ops.sparse_categorical_crossentropy(x, y_pred, from_logits=True), axis=(1, 2))`.
        Divided by the replica count: Keras sums it over replicas.
        """
        check_no_sample_weight(sample_weight)
        check_no_labels(y)
        if y_pred is None:
            y_pred = self(x)
        loss = ops.mean(self._nll_per_code(x, y_pred))
        self.bits_tracker.update_state(loss / LOG2)
        return loss / replicas_in_step()

    def _check_fit_data(self, method, args, kwargs):
        """Refuse weights and targets before any step (as `Autoencoder`
        does), and check in-memory code maps."""
        arguments = bind_arguments(method, args, kwargs)
        check_no_sample_weight(arguments.get("sample_weight"), arguments.get("class_weight"))
        check_no_labels(arguments.get("y"))
        validation = arguments.get("validation_data")
        if isinstance(validation, (tuple, list)):  # (x,), (x, y) or (x, y, sample_weight)
            check_no_sample_weight(validation[2] if len(validation) > 2 else None)
            if len(validation) > 1:
                check_no_labels(validation[1], "validation_data[1]")
        x = arguments.get("x")
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            check_code_map(ops.convert_to_numpy(x), self.code_shape, self.num_embeddings, "x")
        elif hasattr(x, "element_spec"):  # a tf.data.Dataset
            _, spec_y, spec_weight = keras.utils.unpack_x_y_sample_weight(x.element_spec)
            check_no_sample_weight(spec_weight)
            check_no_labels(spec_y)

    def fit(self, *args, **kwargs):
        self._check_fit_data(keras.Model.fit, args, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._check_fit_data(keras.Model.evaluate, args, kwargs)
        return super().evaluate(*args, **kwargs)

    # ---------------------------------------------------------- public API
    def log_prob(self, codes):
        """log p(z) of each code map in nats, float32 `(batch,)`."""
        codes = check_code_map(codes, self.code_shape, self.num_embeddings, "codes")
        parts = []
        for i in range(0, len(codes), self.batch_size):
            batch = codes[i : i + self.batch_size]
            parts.append(-ops.sum(self._nll_per_code(batch, self(batch)), axis=(1, 2)))
        return ops.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]

    def sample(self, num_samples, temperature=1.0):
        """Draw `num_samples` code maps, int32 `(num_samples, h, w)`.

        Position t is drawn from softmax(logits_t / temperature) given the
        positions already drawn. The loop over the h w positions runs inside
        one XLA-compiled function (compiled once per `num_samples`).
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(
                "Expected `temperature` to be a positive float. Received: "
                f"temperature={temperature!r}"
            )
        cache = self.__dict__.setdefault("_sample_functions", {})
        if num_samples not in cache:
            cache[num_samples] = compile_function(self, lambda t: self._sample(num_samples, t))
        return cache[num_samples](np.float32(temperature))

    def _sample(self, num_samples, temperature):
        height, width = self.code_shape
        positions = height * width
        uniforms = random.uniform((positions, num_samples), seed=self.seed_generator)
        flat_positions = ops.reshape(ops.arange(positions, dtype="int32"), (1, height, width))

        def step(t, codes):
            logits = ops.reshape(self(codes), (num_samples, positions, self.num_embeddings))
            logits = ops.take(logits, t, axis=1) / temperature
            cdf = ops.cumsum(ops.softmax(logits, axis=-1), axis=-1)
            u = ops.take(uniforms, t, axis=0)[:, None]
            drawn = ops.sum(ops.cast(cdf < u, "int32"), axis=-1)
            drawn = ops.minimum(drawn, self.num_embeddings - 1)
            return ops.where(flat_positions == t, drawn[:, None, None], codes)

        codes = ops.zeros((num_samples, height, width), "int32")
        return ops.fori_loop(0, positions, step, codes)

    def _check_vqvae(self, vqvae):
        ours = (self.num_embeddings, self.code_shape)
        theirs = (getattr(vqvae, "num_embeddings", None), getattr(vqvae, "code_shape", None))
        if ours != theirs:
            raise ValueError(
                "Expected a built VQVAE whose codes this prior models: "
                f"(num_embeddings, code_shape) = {ours}. Received: a model with {theirs}"
            )

    def sample_images(self, vqvae, num_samples, temperature=1.0):
        """Images decoded by `vqvae` from `sample(num_samples, temperature)`."""
        self._check_vqvae(vqvae)
        codes = self.sample(num_samples, temperature)
        return vqvae.decode(ops.convert_to_numpy(codes))

    def bits_per_dim(self, vqvae, x):
        """-(log p(x | z_q(x)) + log p(z(x))) / (N log 2) per image (float64).

        See the class docstring: an upper bound on -log2 p(x) / N for a
        discrete likelihood. `vqvae` needs a likelihood (not `"mse"`).
        """
        self._check_vqvae(vqvae)
        log_px_z = np.asarray(vqvae.reconstruction_log_prob(x), "float64")
        log_pz = np.asarray(self.log_prob(ops.convert_to_numpy(vqvae.encode(x))), "float64")
        dims = float(np.prod(vqvae.data_shape))
        return -(log_px_z + log_pz) / (dims * LOG2)

    def get_config(self):
        return {
            **super().get_config(),
            "num_embeddings": self.num_embeddings,
            "code_shape": list(self.code_shape),
            "filters": self.filters,
            "num_layers": self.num_layers,
            "kernel_size": self.kernel_size,
            "seed": self.seed,
        }
