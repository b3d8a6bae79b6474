"""ELBO surgery (Hoffman & Johnson, 2016): average KL = I[i, z] + marginal KL."""

import math
import typing

import numpy as np
from keras import ops

from keras_vae.diagnostics.aggregate_posterior import log_aggregate_posterior
from keras_vae.diagnostics.batching import example_rank
from keras_vae.diagnostics.batching import host_batches
from keras_vae.priors.prior import Prior
from keras_vae.utils.validation import check_method
from keras_vae.utils.validation import check_positive_int


class ELBOSurgeryResult(typing.NamedTuple):
    """Result of `keras_vae.diagnostics.elbo_surgery` for one latent layer.

    All values are in nats, Monte Carlo estimates over the same samples
    z_{n,s} ~ q(z | x_n), so `mutual_information + marginal_kl == avg_kl` up
    to float64 rounding.

    Attributes:
        avg_kl: (1/N) sum_n KL(q(z | x_n) || p), the ELBO's KL term.
        mutual_information: The index-code mutual information I[i, z] of
            the aggregate posterior, in [0, log N] up to Monte Carlo error.
        marginal_kl: KL(q̄(z) || p(z)) for a marginal prior; for a
            conditional prior (`conditional_prior=True`) the average of
            log q̄(z) - log p_n(z) (see `elbo_surgery`).
        avg_kl_stderr, mutual_information_stderr, marginal_kl_stderr:
            Monte Carlo standard errors: the standard deviation of the N * S
            per-sample terms over sqrt(N * S). Since it includes the spread
            between examples, it is an upper bound on the sampling error of
            the fixed data set. `nan` if N * S = 1.
        avg_kl_analytic: The closed-form average KL if the prior has one
            (`has_analytic_kl`, or a conditional Gaussian prior), else `None`.
        log_n: log N, the largest possible mutual information.
        num_examples: N, the number of examples (posteriors) in q̄.
        num_samples: S, samples of z per example.
        conditional_prior: Whether the layer's prior depends on the example
            (lower layers of hierarchical models).
    """

    avg_kl: float
    mutual_information: float
    marginal_kl: float
    avg_kl_stderr: float
    mutual_information_stderr: float
    marginal_kl_stderr: float
    avg_kl_analytic: float | None
    log_n: float
    num_examples: int
    num_samples: int
    conditional_prior: bool


def elbo_surgery(
    model,
    data,
    num_samples=1,
    batch_size=500,
    chunk_size=2048,
    max_examples=None,
    seed=None,
):
    """Split the ELBO's average KL into mutual information and marginal KL.

    ```none
    q̄(z)  = (1/N) sum_m q(z | x_m)                (aggregate posterior)
    avg KL = (1/N) sum_n KL(q(z | x_n) || p(z))
           = I[i, z] + KL(q̄(z) || p(z))
    I[i, z] = log N - E_q̄(z) H[q(i | z)]          in [0, log N]

    Estimates over S samples z_{n,s} ~ q(z | x_n) per example:
    I          = mean_{n,s} [ log q(z_{n,s} | x_n) - log q̄(z_{n,s}) ]
    marginal KL = mean_{n,s} [ log q̄(z_{n,s}) - log p(z_{n,s}) ]
    avg KL      = mean_{n,s} [ log q(z_{n,s} | x_n) - log p(z_{n,s}) ]
    ```

    q̄ is exact: log q̄(z) is a log-sum-exp over all N posteriors of the data
    (not a minibatch), computed in float64 blocks of `chunk_size` samples by
    `chunk_size` posteriors, so memory stays bounded (O(chunk_size^2)); 50k
    MNIST posteriors with 20-d latents take well under a minute on 2 CPU
    cores. The three estimates use the same samples, so the identity holds
    exactly; each has a Monte Carlo standard error.

    Models with several latent layers give one result per layer, bottom
    first. The top layer's posterior depends on x only and its prior is
    marginal, so its decomposition is the one above. A lower layer i's
    posterior depends on the layers above; it is taken at their posterior
    means (as `encode` does), q_n(z_i) = q(z_i | x_n, z_{>i} = means), with
    the conditional prior p_n(z_i) = p(z_i | z_{>i} = means of example n).
    Its `mutual_information` is then exactly I[i; z_i] of these q_n, and its
    `marginal_kl` is mean[log q̄(z) - log p_n(z)], which is not a KL
    divergence (it may be negative) since the prior varies with n
    (`conditional_prior=True`); `avg_kl` is the KL term of the ELBO at the
    parents' means, not at samples of them.

    log p(z) is the prior's `log_prob`. Where that is itself a stochastic
    lower bound (the `HierarchicalPrior` of `VHPVAE`), `marginal_kl` and
    `avg_kl` are upper-bound estimates; `mutual_information` does not
    involve the prior and stays exact.

    Args:
        model: A model with Gaussian latents: `VAE`, `HierarchicalVAE`,
            `LadderVAE`, `VHPVAE` or your own
            `keras_vae.models.LatentVariableModel`, with any prior. The
            model's public method `latent_layers(x)` gives, bottom layer
            first, `(loc, scale, prior)` per layer: the diagonal Gaussian
            posteriors of the batch and either a `keras_vae.priors.Prior`
            or per-example `(p_loc, p_scale)`. A model with `latent_dims`
            (several layers) gets a list of results.
        data: The N examples (e.g. the training set): a numpy array or
            tensor, or a finite `tf.data.Dataset`, batched or not, whose
            elements are `x` or tuples `(x, ...)`.
        num_samples: Positive integer S, samples of z per example. Defaults
            to 1.
        batch_size: Positive integer, examples per encoder call. Defaults to
            500.
        chunk_size: Positive integer, block size of the log-sum-exp over
            the N posteriors. Defaults to 2048 (32 MB float64 blocks).
        max_examples: Optional positive integer; use only the first
            `max_examples` examples (then `data` may be infinite).
        seed: Optional integer seed of the samples z_{n,s}.

    Returns:
        An `ELBOSurgeryResult` for a one-layer model, else a list of them,
        bottom layer first.

    Raises:
        TypeError: if `model` has no continuous latent layer.
        ValueError: if `data` is a dataset of unknown or infinite length
            (without `max_examples`) or holds no example, or an argument is
            out of range.

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=4, hidden_units=(32,), seed=0)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, epochs=2, batch_size=100, verbose=0)
    >>> result = keras_vae.diagnostics.elbo_surgery(vae, x_train)  # N = 1297
    >>> print(f"I = {result.mutual_information:.2f} <= log N = "
    ...       f"{result.log_n:.2f}, marginal KL = {result.marginal_kl:.2f}")
    I = ... <= log N = 7.17, marginal KL = ...

    Reference:
        - [Hoffman & Johnson, 2016](
          http://approximateinference.org/2016/accepted/HoffmanJohnson2016.pdf)
          ("ELBO surgery", NIPS 2016 workshop on Advances in Approximate
          Bayesian Inference)
    """
    hook = check_method(
        model,
        "latent_layers",
        "to be a keras_vae model with a continuous (Gaussian) latent, such as "
        "`keras_vae.models.VAE`, `HierarchicalVAE` or `LadderVAE`; ELBO surgery "
        "needs its posteriors q(z | x) and prior p(z)",
    )
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if max_examples is not None:
        max_examples = check_positive_int(max_examples, "max_examples")
    else:
        _check_finite_dataset(data, "elbo_surgery needs all N examples for q̄")

    layers = None
    for x in host_batches(data, batch_size, example_rank(model), max_examples):
        parts = [_layer_arrays(*layer) for layer in hook(x)]
        if layers is None:
            layers = [([], prior) for _, prior in parts]
        for (arrays, _), (batch_arrays, _) in zip(layers, parts):
            arrays.append(batch_arrays)
    rng = np.random.default_rng(seed)
    results = []
    for arrays, prior in layers:
        arrays = [np.concatenate(a) for a in zip(*arrays)]
        results.append(_layer_result(arrays, prior, num_samples, rng, batch_size, chunk_size))
    # The vocabulary: `latent_dims` names the layers of a layered model.
    single = len(results) == 1 and not hasattr(model, "latent_dims")
    return results[0] if single else results


def _check_finite_dataset(data, why):
    """Raise if `data` is a `tf.data.Dataset` of unknown or infinite length.

    Args:
        data: Anything; only objects with a `cardinality()` method are
            checked.
        why: The reason all examples are needed, for the message.
    """
    cardinality = getattr(data, "cardinality", None)
    if not callable(cardinality):
        return
    count = int(cardinality())
    if count >= 0:
        return
    if count == -1:  # tf.data.INFINITE_CARDINALITY
        kind = "infinite (e.g. after `.repeat()`)"
    else:  # tf.data.UNKNOWN_CARDINALITY
        kind = "unknown (e.g. after `.filter()`)"
    raise ValueError(
        f"Expected a dataset of known, finite length: {why}. Received: a "
        f"dataset whose cardinality is {kind}. Use `dataset.take(n)`, "
        "`dataset.apply(tf.data.experimental.assert_cardinality(n))`, or "
        "pass `max_examples=n`."
    )


def _layer_arrays(loc, scale, prior):
    """Float64 arrays `[loc, scale(, p_loc, p_scale)]` of a batch, and the
    marginal prior (`None` for a conditional one)."""
    arrays = [loc, scale]
    if not isinstance(prior, Prior):
        arrays += list(prior)
        prior = None
    arrays = [np.asarray(ops.convert_to_numpy(a), dtype="float64") for a in arrays]
    if arrays[0].ndim != 2 or any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(
            "Expected posterior and prior parameters of shape (batch, "
            f"latent_dim). Received: shapes {[a.shape for a in arrays]}"
        )
    return arrays, prior


# The densities of the host samples are NumPy float64 on every backend:
# through `keras.ops` they would be float32 on JAX (without
# `jax_enable_x64`), which loses ~1e-5 nats of I[i, z] against the float64
# log q̄ of `log_aggregate_posterior`.
def _log_normal(z, loc, scale):
    """`keras_vae.losses.log_normal` in NumPy float64, summed over the last
    axis: sum_d [-((z_d - mu_d) / sigma_d)^2 / 2 - log sigma_d - log(2 pi) / 2]."""
    u = (z - loc) / scale
    return np.sum(-0.5 * np.square(u) - np.log(scale) - 0.5 * math.log(2.0 * math.pi), axis=-1)


def _kl_normal(q_loc, q_scale, p_loc, p_scale):
    """`keras_vae.losses.kl_normal` in NumPy float64: sum_d [((mu_q - mu_p) /
    sigma_p)^2 / 2 + (r^2 - 1) / 2 - log r], r = sigma_q / sigma_p."""
    log_r = np.log(q_scale) - np.log(p_scale)
    kl = 0.5 * np.square((q_loc - p_loc) / p_scale) + 0.5 * np.expm1(2.0 * log_r) - log_r
    return np.sum(kl, axis=-1)


def _batched(fn, array, batch_size):
    parts = [
        np.asarray(ops.convert_to_numpy(fn(array[i : i + batch_size])), "float64")
        for i in range(0, len(array), batch_size)
    ]
    return np.concatenate(parts).reshape(-1)


def _layer_result(arrays, prior, num_samples, rng, batch_size, chunk_size):
    loc, scale = arrays[:2]
    num, dim = loc.shape
    z = loc + scale * rng.standard_normal((num_samples, num, dim))
    log_q = _log_normal(z, loc, scale).reshape(-1)
    flat = z.reshape(-1, dim)
    log_q_bar = log_aggregate_posterior(flat, loc, scale, chunk_size)
    if prior is None:
        p_loc, p_scale = arrays[2:]
        log_p = _log_normal(z, p_loc, p_scale).reshape(-1)
        analytic = float(np.mean(_kl_normal(loc, scale, p_loc, p_scale)))
    else:
        # Enough rows per call to amortize a VampPrior's encoding of its
        # pseudo-inputs.
        rows = 20 * batch_size
        log_p = _batched(lambda b: prior.log_prob(b.astype("float32")), flat, rows)
        analytic = None
        if prior.has_analytic_kl:
            kl = _batched(
                lambda b: prior.kl_divergence(
                    b[:, :dim].astype("float32"), b[:, dim:].astype("float32")
                ),
                np.concatenate([loc, scale], axis=1),
                rows,
            )
            analytic = float(np.mean(kl))
    terms = {
        "mutual_information": log_q - log_q_bar,
        "marginal_kl": log_q_bar - log_p,
        "avg_kl": log_q - log_p,
    }
    values = {}
    for name, term in terms.items():
        values[name] = float(np.mean(term))
        values[name + "_stderr"] = (
            float(np.std(term, ddof=1) / math.sqrt(term.size)) if term.size > 1 else math.nan
        )
    return ELBOSurgeryResult(
        **values,
        avg_kl_analytic=analytic,
        log_n=math.log(num),
        num_examples=num,
        num_samples=num_samples,
        conditional_prior=prior is None,
    )
