"""VQVAE: the vector-quantized variational autoencoder of van den Oord et al. (2017)."""

import keras
import numpy as np
from keras import ops

from keras_vae import likelihoods as likelihoods_lib
from keras_vae.layers.vector_quantizer import VectorQuantizer
from keras_vae.layers.vector_quantizer import codebook_statistics
from keras_vae.layers.vector_quantizer_ema import VectorQuantizerEMA
from keras_vae.models import vq_networks
from keras_vae.models.autoencoder import Autoencoder
from keras_vae.utils import seed_streams
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int

QUANTIZERS = ("ema", "vq")
MSE = "mse"


@keras.saving.register_keras_serializable(package="keras_vae")
class VQVAE(Autoencoder):
    """Vector-quantized VAE: a conv encoder, a codebook and a conv decoder.

    ```none
    z_e(x) = encoder(x)                               (h, w, D) vectors
    k_ij   = argmin_k ‖z_e,ij − e_k‖²,  z_q,ij = e_{k_ij}   (straight-through)
    loss   = reconstruction_loss + vq_loss
    reconstruction_loss = (1/N) sum_d (x_d − x̂_d)²        likelihood="mse"
                        = −log p(x | z_q) / N             otherwise (nats per dim)
    vq_loss = mean ‖sg[z_e] − z_q‖² + β mean ‖z_e − sg[z_q]‖²    ("vq")
            = β mean ‖z_e − sg[z_q]‖²    (codebook by moving averages, "ema")
    ```

    N is the number of data dimensions (pixels x channels) and the VQ means
    run over all latent elements, so both terms are per-element means. The
    objective is not a bound on log p(x) and there is no KL term, so the
    model is an `Autoencoder`, not a `LatentVariableModel`: no `beta`, no
    `objective`, no `log_likelihood` (a PixelCNN prior over the codes gives
    one: `keras_vae.models.PixelCNN.bits_per_dim`).

    The VQ loss arrives through the quantizer's `add_loss`: `compute_loss`
    adds `model.losses` to the batch mean of `compute_terms(x)["loss"]`
    (each example's reconstruction term, `(batch,)`) exactly once.
    Metrics: `loss` (their sum), `reconstruction_loss` (a cost, lower is
    better; the VAEs' `reconstruction` is log p(x | z)), `vq_loss`, and
    the batch's codebook `perplexity` (exp of the entropy of
    code frequencies; K for uniform use) and `usage` (fraction of codes used),
    averaged over batches; for whole-dataset values use
    `keras_vae.diagnostics.codebook_usage`.

    `predict(x)` (and `model(x)`) is deterministic: the reconstruction at
    the quantized code map, equal to `reconstruct(x)`. The latent is not
    sampled, so `evaluate` is deterministic too (dynamic binarization, when
    set, only applies to training batches).

    Args:
        encoder: Optional Keras layer from images to `(batch, h, w,
            embedding_dim)`. Defaults to `vq_encoder` (the paper's: strided
            4x4 convolutions, residual blocks, a 1x1 convolution).
        decoder: Optional Keras layer from `(batch, h, w, embedding_dim)` to
            the likelihood's parameters (the image shape, with channels times
            `params_per_channel`, 2 for the discretized logistic). Defaults
            to `vq_decoder`.
        num_embeddings: Codebook size K. Defaults to 512.
        embedding_dim: Code vector size D. Defaults to 64.
        filters: Channels of the default networks' convolutions (the paper:
            256). Defaults to 128, enough for MNIST-sized images.
        residual_units: Channels of the residual 3x3 convolutions. Defaults
            to 32.
        num_residual_blocks: Residual blocks in each network. Defaults to 2.
        num_downsamples: Halvings of height and width by the default
            encoder (the image sides must be divisible by 2**n). Defaults to 2.
        likelihood: `"mse"` (the paper's squared error; the decoder outputs
            the reconstruction), `"bernoulli"`, `"gaussian"`,
            `"discretized_logistic"` or a `keras_vae.likelihoods.Likelihood`.
            `"gaussian"` has a FIXED sigma = 1 (the squared error again, in
            nats); for a learned scale pass
            `keras_vae.likelihoods.Gaussian(learn_scale=True)`. Data must
            lie in the likelihood's declared `support` ([0, 1] for
            `"bernoulli"` and `"discretized_logistic"`).
        quantizer: `"ema"` (`VectorQuantizerEMA`, the default), `"vq"`
            (`VectorQuantizer`) or a quantizer layer instance, whose
            `num_embeddings` and `embedding_dim` must match.
        commitment_cost: β. Defaults to 0.25. Like `decay`,
            `restart_dead_codes` and `kmeans_init`, it configures a quantizer
            given by name.
        decay: EMA decay of `"ema"`. Defaults to 0.99.
        restart_dead_codes: Re-seed codes unused for 100 steps with vectors
            of the batch. Defaults to `True`.
        kmeans_init: Initialize the codebook by k-means on the first batch.
        dynamic_binarization: Binarize every training batch, x ~ Bernoulli(x).
            Only with a likelihood of binary data (`"bernoulli"`): refused
            with `"mse"` and any other.
        seed: Optional integer seed.
        **kwargs: `keras.Model` keyword arguments.

    Call arguments:
        x: A batch of images.
        training: Whether the networks and the quantizer run in training
            mode. Returns the reconstruction (the likelihood's mean at
            z_q(x)): with `training=False`, `reconstruct(x)` and what
            `predict` returns.

    Example:

    >>> vqvae = keras_vae.models.VQVAE(
    ...     num_embeddings=16, embedding_dim=4, filters=16, residual_units=8, seed=0)
    >>> vqvae.compile(optimizer=keras.optimizers.Adam(2e-4))
    >>> history = vqvae.fit(x_train, epochs=1, batch_size=128, verbose=0)
    >>> codes = vqvae.encode(x_test[:8])  # 8x8 digits, downsampled twice
    >>> codes.dtype, codes.shape
    (tf.int32, TensorShape([8, 2, 2]))
    >>> vqvae.decode(codes).shape
    TensorShape([8, 8, 8, 1])

    Reference:
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
    """

    # Examples per eager chunk of `encode`, `decode` and `reconstruct`.
    batch_size = 256

    def __init__(
        self,
        encoder=None,
        decoder=None,
        num_embeddings=512,
        embedding_dim=64,
        filters=128,
        residual_units=32,
        num_residual_blocks=2,
        num_downsamples=2,
        likelihood=MSE,
        quantizer="ema",
        commitment_cost=0.25,
        decay=0.99,
        restart_dead_codes=True,
        kmeans_init=False,
        dynamic_binarization=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            metric_names=("reconstruction_loss", "vq_loss", "perplexity", "usage"),
            dynamic_binarization=dynamic_binarization,
            seed=seed,
            **kwargs,
        )
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.filters = check_positive_int(filters, "filters")
        self.residual_units = check_positive_int(residual_units, "residual_units")
        if not isinstance(num_residual_blocks, int) or num_residual_blocks < 0:
            raise ValueError(
                "Expected `num_residual_blocks` to be a non-negative integer. "
                f"Received: num_residual_blocks={num_residual_blocks!r}"
            )
        self.num_residual_blocks = num_residual_blocks
        self.num_downsamples = check_positive_int(num_downsamples, "num_downsamples")
        self.commitment_cost = float(commitment_cost)
        self.decay = float(decay)
        self.restart_dead_codes = bool(restart_dead_codes)
        self.kmeans_init = bool(kmeans_init)
        self._default_encoder = encoder is None
        self._default_decoder = decoder is None
        self.encoder = encoder
        self.decoder = decoder
        if isinstance(likelihood, str) and likelihood.lower() == MSE:
            self.likelihood = None
        else:
            self.likelihood = self.adopt_component(likelihoods_lib.get(likelihood), "likelihood")
        self.check_binarization()
        self.quantizer = self._make_quantizer(quantizer)
        self.data_shape = None
        self.code_shape = None

    def _make_quantizer(self, quantizer):
        self._quantizer_name = None
        if isinstance(quantizer, str):
            self._quantizer_name = check_one_of(quantizer, "quantizer", QUANTIZERS)
            options = dict(
                num_embeddings=self.num_embeddings,
                embedding_dim=self.embedding_dim,
                commitment_cost=self.commitment_cost,
                kmeans_init=self.kmeans_init,
                restart_dead_codes=self.restart_dead_codes,
                seed=seed_streams.stream_seed(self.seed, "quantizer"),
                name="quantizer",
            )
            if quantizer == "ema":
                return VectorQuantizerEMA(decay=self.decay, **options)
            return VectorQuantizer(**options)
        if isinstance(quantizer, dict):
            quantizer = keras.saving.deserialize_keras_object(quantizer)
        if not isinstance(quantizer, VectorQuantizer):
            raise ValueError(
                f"Expected `quantizer` to be one of {list(QUANTIZERS)} or a "
                "`keras_vae.layers.VectorQuantizer` (or `VectorQuantizerEMA`) "
                f"instance. Received: quantizer={quantizer!r}"
            )
        if (quantizer.num_embeddings, quantizer.embedding_dim) != (
            self.num_embeddings,
            self.embedding_dim,
        ):
            raise ValueError(
                "Expected the quantizer's codebook to match `num_embeddings` and "
                f"`embedding_dim` ({self.num_embeddings}, {self.embedding_dim}). "
                f"Received: a quantizer with num_embeddings={quantizer.num_embeddings}"
                f", embedding_dim={quantizer.embedding_dim}"
            )
        return self.adopt_component(quantizer, "quantizer")

    # ------------------------------------------------------------------ build
    @property
    def _params_per_channel(self):
        return getattr(self.likelihood, "params_per_channel", 1)

    def build(self, input_shape):
        data_shape = self.check_data_shape(input_shape)
        if self._default_encoder:
            vq_networks.check_image_shape(data_shape, self.num_downsamples)
        elif len(data_shape) != 3:
            raise ValueError(
                "Expected images of shape (batch, height, width, channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.data_shape = data_shape
        net = dict(
            filters=self.filters,
            residual_units=self.residual_units,
            num_residual_blocks=self.num_residual_blocks,
            num_downsamples=self.num_downsamples,
        )
        if self.encoder is None:
            with self.seeded_scope("encoder"):
                self.encoder = vq_networks.vq_encoder(data_shape, self.embedding_dim, **net)
        input_shape = (None,) + data_shape
        self.encoder.build(input_shape)
        latent = tuple(self.encoder.compute_output_shape(input_shape))
        if len(latent) != 4 or None in latent[1:] or latent[-1] != self.embedding_dim:
            raise ValueError(
                "Expected the encoder to output a map of code vectors of shape "
                f"(batch, h, w, embedding_dim={self.embedding_dim}). Received: "
                f"encoder output shape {latent}"
            )
        self.code_shape = tuple(latent[1:3])
        out_channels = data_shape[-1] * self._params_per_channel
        if self.decoder is None:
            with self.seeded_scope("decoder"):
                self.decoder = vq_networks.vq_decoder(
                    self.code_shape, self.embedding_dim, out_channels, **net
                )
        self.decoder.build(latent)
        params = tuple(self.decoder.compute_output_shape(latent))[1:]
        if params != data_shape[:-1] + (out_channels,):
            raise ValueError(
                "Expected the decoder to output likelihood parameters of shape "
                f"{data_shape[:-1] + (out_channels,)} ({self._params_per_channel} "
                f"per image channel). Received: decoder output shape {params}"
            )
        if not self.quantizer.built:
            self.quantizer.build(latent)
        if self.likelihood is not None and not self.likelihood.built:
            self.likelihood.build((None,) + params)
        self.built = True

    # -------------------------------------------------------------- internals
    def _mean(self, params):
        # float32 under mixed precision too, like a likelihood's mean.
        if self.likelihood is None:
            return ops.cast(params, "float32")
        return self.likelihood.mean(params)

    def _reconstruction(self, x, params):
        """Per-example reconstruction cost per data dimension, `(batch,)`."""
        x = ops.cast(x, "float32")
        params = ops.cast(params, "float32")
        axes = tuple(range(1, len(x.shape)))
        if self.likelihood is None:
            return ops.mean(ops.square(x - params), axis=axes)
        return -self.likelihood.log_prob(x, params) / float(np.prod(self.data_shape))

    def _codes(self, x):
        return self.quantizer.quantize_indices(self.encoder(x, training=False))

    def _decode_codes(self, indices):
        return self._mean(self.decoder(self.quantizer.lookup(indices), training=False))

    def compute_terms(self, x, training=False):
        """Terms of a batch: `"loss"` and `"reconstruction_loss"`, `(batch,)`,
        hold each example's reconstruction term only; the VQ loss joins it
        through `self.losses` in `compute_loss`. `"vq_loss"`, `"perplexity"`
        and `"usage"` are statistics of the whole batch, scalars."""
        self.check_input(x)
        z_e = self.encoder(x, training=training)
        z_q, indices = self.quantizer(z_e, training=training, return_indices=True)
        rec = self._reconstruction(x, self.decoder(z_q, training=training))
        vq_loss = ops.sum(ops.stack([ops.cast(v, "float32") for v in self.quantizer.losses]))
        perplexity, usage = codebook_statistics(indices, self.num_embeddings)
        return {
            "loss": rec,
            "reconstruction_loss": rec,
            "vq_loss": vq_loss,
            "perplexity": perplexity,
            "usage": usage,
        }

    def validate_codes(self, indices, name="indices"):
        """Check a concrete code map: integer, `(batch,) + code_shape`, in
        [0, num_embeddings). Returns it as an int32 numpy array."""
        self.check_built()
        return vq_networks.check_code_map(indices, self.code_shape, self.num_embeddings, name)

    def _batched(self, fn, x):
        parts = [fn(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)

    # ------------------------------------------------------------- public API
    def call(self, x, training=False):
        self.check_input(x)
        z_q = self.quantizer(self.encoder(x, training=training), training=training)
        return self._mean(self.decoder(z_q, training=training))

    def encode(self, x):
        """Int32 code indices of images `x`, shape `(batch,) + code_shape`."""
        x = self.prepare(x)
        self.check_input(x)
        return self._batched(self._codes, x)

    def decode(self, indices):
        """Images (the likelihood's mean) from int code maps `(batch, h, w)`."""
        return self._batched(self._decode_codes, self.validate_codes(indices))

    def reconstruct(self, x):
        """`decode(encode(x))`: the reconstruction at the quantized code map."""
        return self.decode(ops.convert_to_numpy(self.encode(x)))

    def reconstruct_tensors(self, x):
        """Graph hook of `reconstruct` (what `predict` returns)."""
        return self._decode_codes(self._codes(x))

    def reconstruction_log_prob(self, x):
        """log p(x | z_q(x)) per example in nats, float32 `(batch,)`.

        Needs a likelihood (not `"mse"`).
        """
        if self.likelihood is None:
            raise ValueError(
                "Expected a VQVAE with a likelihood to score log p(x | z_q); "
                "squared error is not a density. Received: likelihood='mse'"
            )
        x = self.prepare(x)
        self.check_input(x)

        def score(batch):
            z_q = self.quantizer.lookup(self._codes(batch))
            return self.likelihood.log_prob(batch, self.decoder(z_q, training=False))

        return self._batched(score, x)

    def serving_signatures(self):
        """Serving signatures `reconstruct`, `codes` and `decode_codes` (see
        `Autoencoder.serving_signatures`)."""
        data = ("x", (None,) + self.data_shape, "float32")
        codes = ("indices", (None,) + self.code_shape, "int32")
        return {
            "reconstruct": (
                lambda x: {"mean": self.reconstruct_tensors(x)},
                [data],
            ),
            "codes": (lambda x: {"indices": self._codes(x)}, [data]),
            "decode_codes": (lambda indices: {"mean": self._decode_codes(indices)}, [codes]),
        }

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        config = super().get_config()
        return {
            **config,
            "encoder": None if self._default_encoder else ser(self.encoder),
            "decoder": None if self._default_decoder else ser(self.decoder),
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "filters": self.filters,
            "residual_units": self.residual_units,
            "num_residual_blocks": self.num_residual_blocks,
            "num_downsamples": self.num_downsamples,
            "likelihood": MSE if self.likelihood is None else ser(self.likelihood),
            "quantizer": self._quantizer_name or ser(self.quantizer),
            "commitment_cost": self.commitment_cost,
            "decay": self.decay,
            "restart_dead_codes": self.restart_dead_codes,
            "kmeans_init": self.kmeans_init,
        }
