"""VectorQuantizer: nearest-codebook quantization with a straight-through gradient."""

import keras
from keras import ops

from keras_vae.utils import distribute
from keras_vae.utils import random
from keras_vae.utils.backend import is_concrete
from keras_vae.utils.seed_streams import SeedStateMixin
from keras_vae.utils.validation import check_finite
from keras_vae.utils.validation import check_non_negative_float
from keras_vae.utils.validation import check_positive_int

KMEANS_ITERATIONS = 10


def squared_distances(x, codebook):
    """`(n, K)` squared L2 distances ‖x‖² − 2 x·e + ‖e‖², in float32."""
    x, codebook = ops.cast(x, "float32"), ops.cast(codebook, "float32")
    x_sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    e_sq = ops.sum(ops.square(codebook), axis=-1)
    return x_sq - 2.0 * ops.matmul(x, ops.transpose(codebook)) + e_sq


def nearest_code(x, codebook):
    """Int32 index of the nearest code of each row of `x` (ties: lowest index)."""
    return ops.cast(ops.argmin(squared_distances(x, codebook), axis=-1), "int32")


def codebook_statistics(indices, num_embeddings, reduce_across_replicas=False):
    """Perplexity and fraction of codes used by a batch of code indices.

    ```none
    p_k        = n_k / sum_j n_j          (n_k: occurrences of code k)
    perplexity = exp(-sum_k p_k log p_k)  (1 = one code, K = uniform use)
    usage      = |{k : n_k > 0}| / K
    ```

    Both depend on the number of indices: a batch of 64 vectors uses at most
    64 codes. Compare runs at the same batch size, or use
    `keras_vae.diagnostics.codebook_usage` over a whole dataset.

    Args:
        indices: Integer tensor of code indices, any shape.
        num_embeddings: Positive integer K, the codebook size.
        reduce_across_replicas: If `True`, under `tf.distribute` the counts
            are summed over replicas first, so every replica returns the
            value of the global batch (a collective op: call it on every
            replica). Defaults to `False` (this replica's shard).

    Returns:
        A pair `(perplexity, usage)` of float32 scalar tensors.

    Example:

    >>> perplexity, usage = keras_vae.layers.vector_quantizer.codebook_statistics(
    ...     np.array([0, 0, 1, 1]), num_embeddings=4)
    >>> round(float(perplexity), 4), float(usage)
    (2.0, 0.5)
    """
    num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
    flat = ops.reshape(ops.cast(indices, "int32"), (-1,))
    counts = ops.sum(ops.one_hot(flat, num_embeddings, dtype="float32"), axis=0)
    if reduce_across_replicas:
        counts = distribute.replica_sum(counts)
    probs = counts / ops.maximum(ops.sum(counts), 1.0)
    entropy = -ops.sum(probs * ops.log(ops.maximum(probs, 1e-30)))
    usage = ops.mean(ops.cast(counts > 0, "float32"))
    return ops.exp(entropy), usage


@keras.saving.register_keras_serializable(package="keras_vae")
class VectorQuantizer(SeedStateMixin, keras.layers.Layer):
    """Replaces each vector by its nearest codebook vector (VQ-VAE).

    The last axis of the input holds vectors z_e of size `embedding_dim`; each
    is replaced by the nearest of `num_embeddings` learned codes e_k:

    ```none
    k(z_e)   = argmin_k ‖z_e − e_k‖² = argmin_k ‖z_e‖² − 2 z_e·e_k + ‖e_k‖²
    z_q      = e_{k(z_e)}
    output   = z_e + sg[z_q − z_e]       (value z_q, gradient identity to z_e)
    loss     = mean ‖sg[z_e] − z_q‖²  +  β mean ‖z_e − sg[z_q]‖²
               (codebook loss)           (commitment loss, β = commitment_cost)
    ```

    sg is stop-gradient and the means run over all elements (every vector and
    every coordinate), as in Sonnet. The loss goes through `add_loss`, so it
    joins the loss of any model using the layer. Distances, the loss and
    all statistics are computed in float32 (the codebook is a float32
    variable) even under mixed precision; the output has the compute dtype.
    The output is formed as `z_q + (z_e − sg[z_e])`, which equals z_q exactly.

    Options against codebook collapse, for this layer and
    `VectorQuantizerEMA` (Dhariwal et al., 2020; Zeghidour et al., 2021):

    - `kmeans_init`: the first training call replaces the codebook by
      `KMEANS_ITERATIONS` (10) Lloyd iterations on the batch's vectors,
      started from K distinct random vectors of the batch (drawn with
      replacement if the batch has fewer than K vectors); a cluster that
      goes empty keeps its centre.
    - `restart_dead_codes`: each code counts the training steps since a
      vector of the batch was assigned to it. When the count reaches
      `dead_code_steps` the code is re-seeded with a random vector of the
      current batch (distinct vectors for the codes restarted together) and
      its count restarts from zero.

    Under `tf.distribute` both use the global batch (the replicas' vectors
    gathered in replica order) and counts summed over replicas, with the
    same random draws on every replica, so replicas stay identical. Both are
    deterministic given `seed` (stateless draws from the layer's
    `keras.random.SeedGenerator`) and work in XLA-compiled steps.

    Args:
        num_embeddings: Positive integer K, the number of codes.
        embedding_dim: Positive integer D, the size of a code (the inputs'
            last axis).
        commitment_cost: Non-negative float β. Defaults to `0.25`.
        kmeans_init: Whether the first training call initializes the codebook
            by k-means on the batch. Defaults to `False`.
        restart_dead_codes: Whether to re-seed codes unused for
            `dead_code_steps` training steps. Defaults to `False`.
        dead_code_steps: Positive integer. Defaults to `100`.
        embeddings_initializer: Initializer of the `(K, D)` codebook. Defaults
            to `"random_uniform"` (uniform in [-0.05, 0.05], as in Keras
            examples): small codes, so early on the nearest code is decided by
            the direction of z_e; prefer `kmeans_init=True` for encoders whose
            outputs are far from the origin. If `seed` is set and the
            initializer has an unset seed, it is seeded with `seed`.
        seed: Optional integer seed of the initializer, k-means and restarts.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        inputs: Float tensor of shape `(..., embedding_dim)`, any rank >= 1.
        training: Python boolean: k-means initialization and dead code
            restarts (and the EMA updates of `VectorQuantizerEMA`) only
            happen in training. Defaults to `False`.
        return_indices: Python boolean: also return the code indices.

    Returns:
        The quantized tensor, of the inputs' shape and compute dtype, or with
        `return_indices=True` a pair `(quantized, indices)` with int32
        `indices` of shape `inputs.shape[:-1]`.

    Raises:
        ValueError: on invalid arguments, inputs whose last axis is not
            `embedding_dim`, or concrete (eager / numpy) inputs holding NaN or
            infinite values (symbolic and compiled calls are not checked).

    Example:

    >>> vq = keras_vae.layers.VectorQuantizer(num_embeddings=16, embedding_dim=4)
    >>> z_e = np.random.normal(size=(2, 7, 7, 4)).astype("float32")
    >>> quantized, indices = vq(z_e, return_indices=True)
    >>> quantized.shape, indices.shape, len(vq.losses)
    (TensorShape([2, 7, 7, 4]), TensorShape([2, 7, 7]), 1)
    >>> bool(np.all(vq.lookup(indices) == quantized))
    True

    Reference:
        - [van den Oord et al., 2017](https://arxiv.org/abs/1711.00937)
        - [Dhariwal et al., 2020 (Jukebox)](https://arxiv.org/abs/2005.00341)
        - [Zeghidour et al., 2021 (SoundStream)](https://arxiv.org/abs/2107.03312)
    """

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        commitment_cost=0.25,
        kmeans_init=False,
        restart_dead_codes=False,
        dead_code_steps=100,
        embeddings_initializer="random_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.commitment_cost = check_non_negative_float(commitment_cost, "commitment_cost")
        self.kmeans_init = bool(kmeans_init)
        self.restart_dead_codes = bool(restart_dead_codes)
        self.dead_code_steps = check_positive_int(dead_code_steps, "dead_code_steps")
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"Expected `seed` to be None or an int. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ------------------------------------------------------------------ build
    _embeddings_trainable = True

    def _seeded_initializer(self):
        init = self.embeddings_initializer
        config = init.get_config() if hasattr(init, "get_config") else {}
        if self.seed is not None and "seed" in config and config["seed"] is None:
            return type(init).from_config({**config, "seed": self.seed})
        return init

    def _check_last_axis(self, shape):
        shape = tuple(shape)
        if not shape or (shape[-1] is not None and shape[-1] != self.embedding_dim):
            raise ValueError(
                f"Expected inputs whose last axis is embedding_dim="
                f"{self.embedding_dim}. Received: inputs of shape {shape}"
            )

    def state_weight(self, name, shape, initializer, dtype="float32"):
        # Replicas apply identical updates (statistics are all-reduced first),
        # so under tf.distribute the first replica's assignment is kept.
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            dtype=dtype,
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    def build(self, input_shape):
        self._check_last_axis(input_shape)
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_embeddings, self.embedding_dim),
            initializer=self._seeded_initializer(),
            dtype="float32",
            trainable=self._embeddings_trainable,
            autocast=False,
            aggregation="only_first_replica",
        )
        if self.kmeans_init:
            self.kmeans_initialized = self.state_weight("kmeans_initialized", (), "zeros", "int32")
        if self.restart_dead_codes:
            self.steps_since_used = self.state_weight(
                "steps_since_used", (self.num_embeddings,), "zeros", "int32"
            )
        self._build_statistics()

    def _build_statistics(self):
        """Hook: variables of subclasses (EMA statistics)."""

    # ------------------------------------------------------------ public API
    def _prepare(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))
        self._check_last_axis(inputs.shape)
        if is_concrete(inputs):
            check_finite(ops.convert_to_numpy(inputs), "inputs")
        return ops.cast(inputs, "float32")

    def quantize_indices(self, inputs):
        """Int32 indices of the nearest codes, shape `inputs.shape[:-1]`."""
        z_e = self._prepare(inputs)
        flat = ops.reshape(z_e, (-1, self.embedding_dim))
        return ops.reshape(nearest_code(flat, self.embeddings), ops.shape(z_e)[:-1])

    def lookup(self, indices):
        """Codes of integer `indices`: shape `indices.shape + (embedding_dim,)`,
        in the layer's compute dtype."""
        codes = ops.take(self.embeddings, ops.cast(indices, "int32"), axis=0)
        return ops.cast(codes, self.compute_dtype)

    # ------------------------------------------------------------------ call
    def call(self, inputs, training=False, return_indices=False):
        z_e = self._prepare(inputs)
        flat = ops.reshape(z_e, (-1, self.embedding_dim))
        training = bool(training)
        if training is True and (self.kmeans_init or self.restart_dead_codes):
            batch = ops.stop_gradient(distribute.replica_concat(flat))
        if training is True and self.kmeans_init:
            self._kmeans_step(batch)
        codebook = ops.convert_to_tensor(self.embeddings)
        flat_indices = nearest_code(flat, codebook)
        one_hot = ops.one_hot(flat_indices, self.num_embeddings, dtype="float32")
        # A one-hot matmul, not a gather: its gradient to a trainable codebook
        # is a dense matmul, where a gather's is a scatter (5x slower steps).
        z_q = ops.matmul(one_hot, codebook)
        self.add_loss(self._quantization_loss(flat, z_q))
        if training is True:
            counts = self._training_update(ops.stop_gradient(flat), one_hot)
            if self.restart_dead_codes:
                self._restart_step(counts, batch)
        quantized = ops.stop_gradient(z_q) + (flat - ops.stop_gradient(flat))
        quantized = ops.cast(ops.reshape(quantized, ops.shape(z_e)), self.compute_dtype)
        if not return_indices:
            return quantized
        return quantized, ops.reshape(flat_indices, ops.shape(z_e)[:-1])

    def _quantization_loss(self, flat, z_q):
        codebook = ops.mean(ops.square(ops.stop_gradient(flat) - z_q))
        commitment = ops.mean(ops.square(flat - ops.stop_gradient(z_q)))
        return codebook + self.commitment_cost * commitment

    def _training_update(self, flat, one_hot):
        """Hook: updates from the batch; returns the global code counts."""
        return distribute.replica_sum(ops.sum(one_hot, axis=0))

    def _assign_codes(self, new_codes, mask):
        """Set the codes where `mask` (shape `(K,)`) holds to `new_codes`."""
        # `.value`: JAX's `where` takes arrays, not Keras variables.
        self.embeddings.assign(ops.where(mask[:, None], new_codes, self.embeddings.value))

    # --------------------------------------------- k-means and dead codes
    def _random_permutation(self, n):
        # Same seed state on every replica, so the same permutation.
        return ops.argsort(random.uniform((n,), seed=self.seed_generator))

    def _kmeans(self, batch, permutation):
        n = ops.shape(batch)[0]
        picks = ops.take(permutation, ops.arange(self.num_embeddings) % n)
        centres = ops.take(batch, picks, axis=0)
        for _ in range(KMEANS_ITERATIONS):
            assign = ops.one_hot(nearest_code(batch, centres), self.num_embeddings, dtype="float32")
            counts = ops.sum(assign, axis=0)[:, None]
            sums = ops.matmul(ops.transpose(assign), batch)
            centres = ops.where(counts > 0, sums / ops.maximum(counts, 1.0), centres)
        return centres

    def _kmeans_step(self, batch):
        # Collectives, random draws and assignments stay outside the cond
        # (merge calls inside a cond branch fail under MirroredStrategy).
        permutation = self._random_permutation(ops.shape(batch)[0])
        done = ops.convert_to_tensor(self.kmeans_initialized) > 0
        centres = ops.cond(
            done,
            lambda: ops.convert_to_tensor(self.embeddings),
            lambda: self._kmeans(batch, permutation),
        )
        mask = ops.logical_not(done) & ops.ones((self.num_embeddings,), "bool")
        self._assign_codes(centres, mask)
        self.kmeans_initialized.assign(1)

    def _restart_step(self, counts, batch):
        steps = ops.where(counts > 0, 0, self.steps_since_used + 1)
        dead = steps >= self.dead_code_steps
        n = ops.shape(batch)[0]
        rank = ops.cumsum(ops.cast(dead, "int32")) - 1
        picks = ops.take(self._random_permutation(n), ops.maximum(rank, 0) % n)
        self._assign_codes(ops.take(batch, picks, axis=0), dead)
        self.steps_since_used.assign(ops.where(dead, 0, steps))

    # ------------------------------------------------------ shapes, config
    def compute_output_shape(self, input_shape, return_indices=False):
        if return_indices:
            return tuple(input_shape), tuple(input_shape)[:-1]
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=False, return_indices=False):
        self._check_last_axis(inputs.shape)
        quantized = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_indices:
            return quantized
        return quantized, keras.KerasTensor(inputs.shape[:-1], dtype="int32")

    def get_config(self):
        return {
            **super().get_config(),
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "commitment_cost": self.commitment_cost,
            "kmeans_init": self.kmeans_init,
            "restart_dead_codes": self.restart_dead_codes,
            "dead_code_steps": self.dead_code_steps,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "seed": self.seed,
        }
