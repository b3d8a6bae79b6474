"""Dtype rules for mixed precision (DESIGN.md, Convention 5).

Under a mixed policy such as `keras.mixed_precision.set_global_policy(
"mixed_bfloat16")`, matmuls and convolutions run in the compute dtype
(`bfloat16`/`float16`) while variables stay `float32`. keras_vae keeps
everything that is a density in the variable dtype: log-densities, KL terms,
log-sum-exps, losses, metric sums, samples of z, pseudo-inputs and codebook
distances. A 16-bit log-density would lose whole nats: `bfloat16` has 8
significant bits, so a log p(x) near -100 is rounded to a multiple of 0.5.

Two helpers implement the rule:

- `density_dtype()`: the dtype of density layers (priors, likelihoods,
  samplers, the precision-weighted merge). Their default dtype policy is
  this dtype, so their inputs are cast up and their variables read at full
  precision, whatever the global policy.
- `working_dtype(layer)`: the dtype a network head (such as
  `GaussianParameters`) casts its outputs to, the parameters of a density.
"""

import keras


def density_dtype():
    """`"float64"` under a float64 global policy, else `"float32"`."""
    policy = keras.mixed_precision.global_policy()
    return "float64" if policy.variable_dtype == "float64" else "float32"


def density_layer_kwargs(kwargs):
    """Layer keyword arguments with the density dtype unless `dtype` is given.

    Args:
        kwargs: The `**kwargs` of a density layer's `__init__`.

    Returns:
        A copy of `kwargs` whose `dtype` is `density_dtype()` if it was
        missing or `None`.
    """
    kwargs = dict(kwargs)
    if kwargs.get("dtype") is None:
        kwargs["dtype"] = density_dtype()
    return kwargs


def working_dtype(layer):
    """The dtype of density parameters computed by `layer`.

    `"float64"` for a float64 layer, else `"float32"`: a 16-bit compute dtype
    is used for the layer's matmul only.
    """
    return "float64" if layer.compute_dtype == "float64" else "float32"
