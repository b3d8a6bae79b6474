"""Reconstruction probability (An & Cho, 2015): a per-example anomaly score."""

import numpy as np

from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.utils.validation import check_optional_positive_int
from keras_vae.utils.validation import check_positive_int


def reconstruction_probability(
    model,
    data,
    num_samples=100,
    batch_size=100,
    chunk_size=None,
    max_examples=None,
):
    """Log reconstruction probability of every example, for anomaly scores.

    An & Cho (2015, Algorithm 4) score an example x by the probability of x
    under the decoder, averaged over L draws of the encoder:

    ```none
    RP(x)     = (1/L) sum_{l=1..L} p(x | z_l),   z_l ~ q(z | x)
              -> E_{q(z|x)} p(x | z)                     (L -> infinity)
    log RP(x) = logsumexp_l log p(x | z_l) - log L       (returned)
    ```

    The function returns log RP(x), the log of the paper's score (the same
    ranking; no underflow for high-dimensional x, where p(x | z) itself is
    far below the smallest float). An example is anomalous when RP(x) is
    low: use `-log RP(x)` as the anomaly score, beside the negative
    importance-sampled log-likelihood `-log p(x)` of
    `keras_vae.diagnostics.log_likelihood`. Unlike log p(x), log RP(x)
    has no prior term: it asks how well the model reconstructs x, not how
    probable x is. log RP(x) with finite L is a (consistent) lower bound in
    expectation of log E_q p(x | z), by Jensen's inequality, as the IWAE
    bound is of log p(x). The paper's decoder outputs a mean and a variance
    per dimension; here p(x | z) is the model's likelihood (e.g. a
    `Gaussian(learn_scale=True)`, a `Bernoulli` or a `Tabular`).

    The model must be an unconditional `keras_vae.models.VAE` (or a
    subclass, e.g. `VHPVAE`): one latent layer, q(z | x) from `encode_tensors` and
    p(x | z) from its `likelihood` of `decoder_params(z)`. Batches are drawn
    on the host (`host_batches`) and the L samples of a batch in chunks
    (`model.estimate_log_mean_exp`, as `model.log_likelihood` does).

    Args:
        model: A built or trained `keras_vae.models.VAE`.
        data: A numpy array or tensor of examples, or a `tf.data.Dataset`
            whose elements are `x` or tuples `(x, ...)` (see `host_batches`).
        num_samples: Positive integer L, draws of z per example. Defaults
            to 100.
        batch_size: Positive integer, examples per batch. Defaults to 100.
        chunk_size: Optional positive integer, draws per compiled chunk
            (default: as `model.log_likelihood` chooses).
        max_examples: Optional positive integer; score only the first
            `max_examples` examples.

    Returns:
        A float64 numpy array of shape `(num_examples,)`, log RP(x) in nats,
        in data order.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0)
    >>> log_rp = keras_vae.diagnostics.reconstruction_probability(
    ...     vae, x_test[:200], num_samples=50)
    >>> anomaly_score = -log_rp             # high: anomalous
    >>> anomaly_score.shape
    (200,)

    Reference:
        - [An & Cho, 2015](http://dm.snu.ac.kr/static/docs/TR/SNUDM-TR-2015-03.pdf),
          Variational autoencoder based anomaly detection using
          reconstruction probability
    """
    from keras_vae.models.vae import VAE

    if not isinstance(model, VAE):
        raise ValueError(
            "Expected `model` to be a `keras_vae.models.VAE` (one latent layer: "
            "q(z | x) from `encode_tensors`, p(x | z) from `likelihood` and "
            f"`decoder_params`). Received: model of type {type(model).__name__}"
        )
    if getattr(model, "num_classes", None) is not None:
        raise ValueError(
            "Expected an unconditional `VAE`: the reconstruction probability of a "
            "conditional one needs each example's condition, which this function "
            f"does not take. Received: a VAE with num_classes={model.num_classes}"
        )
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_size = check_optional_positive_int(chunk_size, "chunk_size")
    max_examples = check_optional_positive_int(max_examples, "max_examples")

    def log_px_given_z(x, k):
        # (k, batch) log p(x | z_l) of k fresh draws z_l ~ q(z | x).
        loc, scale = model.encode_tensors(x)
        z = model.reparameterize(loc, scale, k)
        return model.likelihood.log_prob(x, model.decoder_params(z))

    parts = []
    for x in host_batches(data, batch_size, example_rank(model), max_examples):
        x = model.prepare(x)
        chunk = chunk_size
        if chunk is None:
            chunk = int(min(num_samples, max(1, model.likelihood_chunk_floats // max(1, x.size))))
        log_rp = model.estimate_log_mean_exp(
            "reconstruction_probability", log_px_given_z, x, num_samples, chunk
        )
        parts.append(np.asarray(log_rp, dtype="float64").reshape(-1))
    return np.concatenate(parts)
