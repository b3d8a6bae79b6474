"""Input checks and discretization shared by the disentanglement metrics."""

import numpy as np


def check_latents_and_factors(latents, factors, min_latents=1, min_factors=1):
    """`(latents, factors)` as float64 `(n, d)` and `(n, K)` arrays, checked.

    `factors` may hold any discrete labels per column; they are replaced by
    value indices 0..S_k - 1 (`np.unique`), so only their equality counts.
    """
    latents = np.asarray(latents, dtype="float64")
    factors = np.asarray(factors)
    if latents.ndim != 2 or factors.ndim != 2 or len(latents) != len(factors):
        raise ValueError(
            "Expected `latents` of shape (n, d) and `factors` of shape (n, K) "
            f"with the same n. Received: {latents.shape} and {factors.shape}"
        )
    if latents.shape[1] < min_latents or factors.shape[1] < min_factors:
        raise ValueError(
            f"Expected at least {min_latents} latents and {min_factors} factors. "
            f"Received: latents {latents.shape}, factors {factors.shape}"
        )
    if len(latents) < 2:
        raise ValueError(f"Expected at least 2 examples. Received: {len(latents)}")
    if not np.all(np.isfinite(latents)):
        raise ValueError("Expected finite `latents`.")
    codes = np.stack([np.unique(f, return_inverse=True)[1] for f in factors.T], axis=1)
    return latents, codes.reshape(factors.shape).astype("int64")


def discretize(latents, num_bins):
    """Each column of `(n, d)` latents in `num_bins` equal-width bins over its range."""
    out = np.empty(latents.shape, dtype="int64")
    for j, column in enumerate(latents.T):
        edges = np.histogram_bin_edges(column, bins=num_bins)
        out[:, j] = np.digitize(column, edges[1:-1])
    return out


def discrete_mutual_information(a, b):
    """I(a; b) in nats of two integer label arrays, from their joint histogram."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / outer[nz])))


def entropy(labels):
    """H(labels) in nats of an integer label array."""
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))
