"""VectorQuantizerEMA: a codebook learned by exponential moving averages."""

import keras
import numpy as np
from keras import ops

from keras_vae.layers.vector_quantizer import VectorQuantizer
from keras_vae.utils import distribute
from keras_vae.utils.validation import check_positive_float


def _check_open_unit_interval(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 < value < 1.0
    ):
        raise ValueError(f"Expected `{name}` to be a float in (0, 1). Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_vae")
class VectorQuantizerEMA(VectorQuantizer):
    """A `VectorQuantizer` whose codebook follows moving averages of its clusters.

    Quantization, the straight-through output and the options are those of
    `keras_vae.layers.VectorQuantizer`. The codebook is not trained by
    gradients: each training call updates, with the batch's assignments
    (one-hot r_ik of vector i to code k) and decay γ,

    ```none
    N_k ← γ N_k + (1 − γ) Σ_i r_ik              (ema_cluster_size)
    m_k ← γ m_k + (1 − γ) Σ_i r_ik z_e,i        (ema_sum)
    n   = Σ_k N_k
    Ñ_k = (N_k + ε) / (n + K ε) · n             (Laplace smoothing)
    e_k = m_k / Ñ_k                             (embeddings)
    loss = β mean ‖z_e − sg[z_q]‖²               (commitment only, via add_loss)
    ```

    The statistics start at N_k = 1 and m_k = e_k (each code as the mean of
    one pseudo-vector: itself), so a code that is never used keeps its value
    (up to the smoothing) instead of being pulled to the origin. z_q is taken
    from the codebook before the update. Updates happen only with
    `training=True`, as variable assignments inside `call` (so they run in
    `model.fit`, also with `jit_compile=True`), in float32 whatever the
    compute dtype.

    Under `tf.distribute`, Σ_i r_ik and Σ_i r_ik z_e,i are summed over the
    replicas before the update, so every replica applies the same update and
    the result equals the single-device update on the global batch.

    k-means initialization and dead-code restarts work as in
    `VectorQuantizer`; they also reset the statistics of the codes they set:
    N_k = 1 and m_k = e_k (as Jukebox does).

    Args:
        num_embeddings: Positive integer K, the number of codes.
        embedding_dim: Positive integer D, the size of a code.
        commitment_cost: Non-negative float β. Defaults to `0.25`.
        decay: Float γ in (0, 1). Defaults to `0.99`.
        epsilon: Positive float ε of the Laplace smoothing. Defaults to `1e-5`.
        kmeans_init: See `VectorQuantizer`. Defaults to `False`.
        restart_dead_codes: See `VectorQuantizer`. Defaults to `False`.
        dead_code_steps: See `VectorQuantizer`. Defaults to `100`.
        embeddings_initializer: Initializer of the codebook (and of m).
            Defaults to `"random_uniform"`.
        seed: Optional integer seed.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        inputs: Float tensor of shape `(..., embedding_dim)`.
        training: Python boolean: update the codebook. Defaults to `False`.
        return_indices: Python boolean: also return the code indices.

    Returns:
        The quantized tensor, or `(quantized, indices)`; see `VectorQuantizer`.

    Example:

    >>> vq = keras_vae.layers.VectorQuantizerEMA(16, 4, decay=0.9)
    >>> z_e = np.random.normal(size=(32, 4)).astype("float32")
    >>> before = np.array(vq(z_e))
    >>> _ = vq(z_e, training=True)  # moves the used codes towards z_e
    >>> [w.name for w in vq.non_trainable_weights][:3]
    ['embeddings', 'ema_cluster_size', 'ema_sum']

    Reference:
        - [van den Oord et al., 2017, Appendix A.1](https://arxiv.org/abs/1711.00937)
        - [Razavi et al., 2019](https://arxiv.org/abs/1906.00446)
        - [Dhariwal et al., 2020 (Jukebox)](https://arxiv.org/abs/2005.00341)
    """

    _embeddings_trainable = False

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        commitment_cost=0.25,
        decay=0.99,
        epsilon=1e-5,
        kmeans_init=False,
        restart_dead_codes=False,
        dead_code_steps=100,
        embeddings_initializer="random_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            num_embeddings,
            embedding_dim,
            commitment_cost=commitment_cost,
            kmeans_init=kmeans_init,
            restart_dead_codes=restart_dead_codes,
            dead_code_steps=dead_code_steps,
            embeddings_initializer=embeddings_initializer,
            seed=seed,
            **kwargs,
        )
        self.decay = _check_open_unit_interval(decay, "decay")
        self.epsilon = check_positive_float(epsilon, "epsilon")

    def _build_statistics(self):
        self.ema_cluster_size = self.state_weight(
            "ema_cluster_size", (self.num_embeddings,), "ones"
        )
        self.ema_sum = self.state_weight(
            "ema_sum",
            (self.num_embeddings, self.embedding_dim),
            # A copy: JAX's compiled steps donate each variable's buffer, and
            # two variables sharing one buffer fail there.
            lambda shape, dtype=None: ops.copy(ops.convert_to_tensor(self.embeddings)),
        )

    def _quantization_loss(self, flat, z_q):
        commitment = ops.mean(ops.square(flat - ops.stop_gradient(z_q)))
        return self.commitment_cost * commitment

    def _training_update(self, flat, one_hot):
        counts, sums = distribute.replica_sum(
            ops.sum(one_hot, axis=0), ops.matmul(ops.transpose(one_hot), flat)
        )
        decay = self.decay
        cluster_size = decay * self.ema_cluster_size + (1.0 - decay) * counts
        ema_sum = decay * self.ema_sum + (1.0 - decay) * sums
        total = ops.sum(cluster_size)
        smoothed = (
            (cluster_size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
        )
        self.ema_cluster_size.assign(cluster_size)
        self.ema_sum.assign(ema_sum)
        self.embeddings.assign(ema_sum / smoothed[:, None])
        return counts

    def _assign_codes(self, new_codes, mask):
        super()._assign_codes(new_codes, mask)
        # `.value`: JAX's `where` takes arrays, not Keras variables.
        self.ema_cluster_size.assign(ops.where(mask, 1.0, self.ema_cluster_size.value))
        self.ema_sum.assign(ops.where(mask[:, None], new_codes, self.ema_sum.value))

    def get_config(self):
        return {**super().get_config(), "decay": self.decay, "epsilon": self.epsilon}
