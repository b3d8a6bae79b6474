"""Diagonal-Gaussian log-densities and KL terms, summed over the last axis."""

from keras import ops
from tensorflow_probability import distributions as tfd


def log_normal(z, loc, scale):
    """log N(z; loc, diag scale^2), summed over the last axis."""
    return ops.sum(tfd.Normal(loc, scale).log_prob(z), axis=-1)


def kl_normal(q, p):
    """Closed-form KL(N(*q) || N(*p)) of `(loc, scale)` pairs, summed over units."""
    return ops.sum(tfd.kl_divergence(tfd.Normal(*q), tfd.Normal(*p)), axis=-1)
