"""The FactorVAE disentanglement score of Kim & Mnih (2018)."""

import typing

import numpy as np

from keras_vae.utils.validation import check_positive_int


class FactorVAEScoreResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.factor_vae_score`.

    Attributes:
        score: Accuracy of the majority-vote classifier on the evaluation
            votes, in [0, 1] (chance: about 1/K).
        train_accuracy: Its accuracy on the votes it was built from.
        votes: Int64 array `(d, K)`: how often latent j had the smallest
            normalized variance when factor k was fixed (training votes).
        active: Boolean array `(d,)`, the latents kept (global standard
            deviation at least `prune_threshold`).
    """

    score: float
    train_accuracy: float
    votes: np.ndarray
    active: np.ndarray


def factor_vae_score(
    representation_fn,
    sample_with_fixed_factor,
    num_factors,
    observations,
    batch_size=64,
    num_train=500,
    num_eval=300,
    prune_threshold=0.05,
    seed=0,
):
    """FactorVAE score: can one latent's variance tell which factor was fixed?

    ```none
    s_j   = std of latent j over `observations`       (latents with s_j < threshold dropped)
    vote  : k ~ U{1..K};  x_1..x_L share the value of factor k (the rest vary)
            j* = argmin_j Var_l[ z_lj / s_j ],   the pair (j*, k)
    class(j) = argmax_k V_jk           (V: the training votes)
    score    = fraction of evaluation votes (j*, k) with class(j*) = k
    ```

    A representation that keeps each factor in its own latent gives every
    vote the latent of the fixed factor (its variance is 0) and scores 1.

    Args:
        representation_fn: Callable mapping a batch of observations to
            codes `(batch, d)`, e.g. `lambda x: model.encode(x)[0]`.
        sample_with_fixed_factor: Callable `(factor_index, batch_size,
            rng) -> observations`, a batch in which factor `factor_index`
            has one value (drawn by the callable, e.g. with `rng`) and the
            other factors vary, e.g. from `keras_vae.datasets.shapes` with
            `fixed_factor`. `rng` is a `numpy.random.Generator`.
        num_factors: Positive integer K.
        observations: A batch of observations whose codes give the global
            scale s_j (a few thousand examples).
        batch_size: Positive integer L >= 2, examples per vote.
        num_train: Positive integer, votes that build the classifier.
        num_eval: Positive integer, votes that score it.
        prune_threshold: Latents whose global standard deviation is below
            it (collapsed, carrying no information) never vote.
        seed: Integer seed of the factor draws and of `rng`.

    Returns:
        A `FactorVAEScoreResult`.

    Example:

    >>> import numpy as np
    >>> def sample(k, n, rng):  # the factors themselves, factor k fixed
    ...     v = rng.integers(0, 4, size=(n, 3)).astype("float64")
    ...     v[:, k] = rng.integers(0, 4)
    ...     return v
    >>> identity = lambda v: v
    >>> all_factors = sample(0, 1000, np.random.default_rng(1))
    >>> all_factors[:, 0] = np.random.default_rng(2).integers(0, 4, size=1000)
    >>> result = keras_vae.diagnostics.factor_vae_score(identity, sample, 3, all_factors)
    >>> result.score
    1.0

    Reference:
        - [Kim & Mnih, 2018](https://arxiv.org/abs/1802.05983), Sec. 4.
    """
    num_factors = check_positive_int(num_factors, "num_factors")
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size < 2:
        raise ValueError(f"Expected `batch_size` >= 2 (a variance). Received: {batch_size}")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    codes = _codes(representation_fn, observations)
    scale = codes.std(axis=0)
    active = scale >= float(prune_threshold)
    d = codes.shape[1]
    rng = np.random.default_rng(seed)

    def votes(count):
        pairs = np.zeros((count, 2), dtype="int64")
        for i in range(count):
            k = int(rng.integers(num_factors))
            z = _codes(representation_fn, sample_with_fixed_factor(k, batch_size, rng))
            if z.shape[1] != d:
                raise ValueError(f"Expected codes of {d} latents. Received: {z.shape}")
            variance = np.var(z[:, active] / scale[active], axis=0, ddof=1)
            pairs[i] = (np.flatnonzero(active)[np.argmin(variance)], k)
        return pairs

    if not np.any(active):
        return FactorVAEScoreResult(0.0, 0.0, np.zeros((d, num_factors), "int64"), active)
    train = votes(num_train)
    table = np.zeros((d, num_factors), dtype="int64")
    np.add.at(table, (train[:, 0], train[:, 1]), 1)
    predicted = np.argmax(table, axis=1)
    train_accuracy = float(table.max(axis=1).sum() / num_train)
    evaluation = votes(num_eval)
    score = float(np.mean(predicted[evaluation[:, 0]] == evaluation[:, 1]))
    return FactorVAEScoreResult(score, train_accuracy, table, active)


def _codes(representation_fn, x):
    z = np.asarray(representation_fn(x), dtype="float64")
    if z.ndim != 2:
        raise ValueError(
            f"Expected `representation_fn` to return (batch, d) codes. Received: {z.shape}"
        )
    return z
