"""A linear-Gaussian VAE whose exact marginal likelihood is known.

Tests of likelihood estimators and diagnostics need a model with a closed-form
log p(x). The linear-Gaussian latent variable model (probabilistic PCA) is one:

```none
p(z)     = N(0, I_d)
p(x | z) = N(W z + b, s^2 I_D)
p(x)     = N(b, W W^T + s^2 I_D)
p(z | x) = N(Sigma W^T (x - b) / s^2, Sigma),   Sigma = (I + W^T W / s^2)^-1
```

With orthogonal columns of W, W^T W is diagonal and so is Sigma, so the exact
posterior is a diagonal Gaussian that `keras_vae.models.VAE`'s
`GaussianParameters` head can represent exactly: every importance weight then
equals p(x).
"""

import math

import keras
import numpy as np

from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int

POSTERIORS = ("exact", "perturbed")

# How the "perturbed" posterior departs from the exact one: variances scaled
# up (an over-dispersed proposal, so importance weights keep a finite
# variance) and means shifted by half a posterior standard deviation.
PERTURBED_VARIANCE_FACTOR = 2.0
PERTURBED_MEAN_SHIFT = 0.5


def linear_gaussian_vae(
    latent_dim,
    data_dim,
    scale,
    seed,
    posterior="exact",
    column_norms=None,
):
    """Build a `keras_vae.models.VAE` that is a linear-Gaussian model.

    ```none
    W = Q diag(c)            Q: (D, d) with orthonormal columns, c = column_norms
    decoder(z) = W z + b,    likelihood = keras_vae.likelihoods.Gaussian(s)
    encoder(x) = x,          posterior head set to q(z | x) = p(z | x)
    Var_x(E_q[z_j | x]) = c_j^2 / (c_j^2 + s^2)       (exact posterior)
    ```

    Args:
        latent_dim: Positive integer d.
        data_dim: Positive integer D, at least `latent_dim`.
        scale: Positive float s, the observation noise scale.
        seed: Integer seed of the parameters and of the model's sampling.
        posterior: `"exact"` sets q(z | x) = p(z | x). `"perturbed"` scales
            the exact posterior variances by 2 and shifts its means by half a
            posterior standard deviation, a worse but still over-dispersed
            proposal.
        column_norms: Optional sequence of `latent_dim` non-negative floats,
            the norms c_j of the columns of W. A zero column makes latent j
            inactive (its posterior mean is constant). Defaults to values
            drawn uniformly in [0.5, 2].

    Returns:
        A tuple `(model, exact_log_px)`: the built VAE, and a function mapping
        an array of shape `(batch, data_dim)` to the exact log p(x) per
        example (float64 numpy array of shape `(batch,)`).

    Example:

    >>> from keras_vae.testing.linear_gaussian import linear_gaussian_vae
    >>> model, exact_log_px = linear_gaussian_vae(2, 5, scale=0.5, seed=0)
    >>> x = np.zeros((3, 5), "float32")
    >>> exact_log_px(x).shape
    (3,)
    >>> log_px = model.log_likelihood(x, num_importance_samples=10)
    >>> bool(np.allclose(log_px, exact_log_px(x), atol=1e-3))  # q = p(z | x)
    True

    Reference:
        - [Tipping & Bishop, 1999](https://doi.org/10.1111/1467-9868.00196)
        - [Burda et al., 2016](https://arxiv.org/abs/1509.00519)
    """
    from keras_vae.likelihoods.gaussian import Gaussian
    from keras_vae.models.vae import VAE

    latent_dim = check_positive_int(latent_dim, "latent_dim")
    data_dim = check_positive_int(data_dim, "data_dim")
    if data_dim < latent_dim:
        raise ValueError(
            "Expected `data_dim >= latent_dim` (W needs orthogonal columns). "
            f"Received: data_dim={data_dim}, latent_dim={latent_dim}"
        )
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"Expected `scale` to be a positive float. Received: scale={scale!r}")
    check_one_of(posterior, "posterior", POSTERIORS)
    rng = np.random.default_rng(seed)
    if column_norms is None:
        column_norms = rng.uniform(0.5, 2.0, size=latent_dim)
    column_norms = np.asarray(column_norms, dtype="float64")
    if column_norms.shape != (latent_dim,) or np.any(column_norms < 0):
        raise ValueError(
            f"Expected `column_norms` to hold {latent_dim} non-negative values. "
            f"Received: column_norms={column_norms.tolist()}"
        )

    q, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
    # Rounded to float32 first, so that the oracle uses the model's weights.
    w = _float32(q * column_norms)  # (D, d), W^T W = diag(c^2)
    b = _float32(rng.normal(scale=0.5, size=data_dim))
    s2 = float(scale) ** 2

    post_var = 1.0 / (1.0 + np.sum(w**2, axis=0) / s2)  # diag of Sigma
    # Posterior mean as a row vector: mu = (x - b) W Sigma / s^2.
    loc_kernel = w * post_var / s2
    loc_bias = -b @ loc_kernel
    if posterior == "perturbed":
        loc_bias = loc_bias + PERTURBED_MEAN_SHIFT * np.sqrt(post_var)
        post_var = post_var * PERTURBED_VARIANCE_FACTOR
    log_var = np.log(post_var)

    model = VAE(
        encoder=keras.Sequential([keras.layers.Flatten()], name="identity_encoder"),
        decoder=keras.Sequential([keras.layers.Dense(data_dim)], name="linear_decoder"),
        latent_dim=latent_dim,
        likelihood=Gaussian(scale=float(scale)),
        min_log_var=min(-6.0, float(log_var.min()) - 1.0),
        max_log_var=max(2.0, float(log_var.max()) + 1.0),
        seed=seed,
    )
    model.build((None, data_dim))
    dense = model.decoder.layers[0]
    dense.kernel.assign(w.T.astype("float32"))
    dense.bias.assign(b.astype("float32"))
    _set_gaussian_head(model.posterior, loc_kernel, loc_bias, log_var)
    return model, _gaussian_log_density(b, w @ w.T + s2 * np.eye(data_dim))


def _set_gaussian_head(head, loc_kernel, loc_bias, log_var):
    """Set a `GaussianParameters` head to loc = h K + c, a constant log-variance."""
    kernel = np.concatenate([loc_kernel, np.zeros_like(loc_kernel)], axis=1)
    head.kernel.assign(kernel.astype("float32"))
    head.bias.assign(np.concatenate([loc_bias, log_var]).astype("float32"))


def _gaussian_log_density(mean, cov):
    """`x -> log N(x; mean, cov)` per row of `x`, in float64."""
    chol = np.linalg.cholesky(cov)
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    dim = len(mean)

    def exact_log_px(x):
        x = np.asarray(x, dtype="float64").reshape(-1, dim)
        maha = np.sum(np.linalg.solve(chol, (x - mean).T) ** 2, axis=0)
        return -0.5 * (maha + log_det + dim * math.log(2.0 * math.pi))

    return exact_log_px


def _float32(a):
    return np.asarray(a, "float32").astype("float64")


def linear_gaussian_hvae(data_dim=4, z1_dim=2, scale=0.5, seed=0, posterior="exact"):
    """A `keras_vae.models.HierarchicalVAE` that is a linear-Gaussian model.

    ```none
    p(z2) = N(0, 1)                        (z2 is one-dimensional)
    p(z1 | z2) = N(A z2 + a, diag v)
    p(x | z1, z2) = N(B z1 + C z2 + b, s^2 I),  B with orthogonal columns
    p(x) = N(m, M M^T + S),   M = B A + C,  m = B a + b,  S = B diag(v) B^T + s^2 I
    p(z2 | x)     = N(S2 M^T S^-1 (x - m), S2),  S2 = (1 + M^T S^-1 M)^-1
    p(z1 | x, z2) = N(S1 (diag(v)^-1 (A z2 + a) + B^T (x - C z2 - b) / s^2), S1),
                    S1 = (diag(v)^-1 + B^T B / s^2)^-1   (diagonal)
    ```

    Both exact posteriors are diagonal Gaussians linear in their inputs, so
    the model's heads represent them exactly (`posterior="exact"`): every
    importance weight then equals p(x). `"perturbed"` doubles both posterior
    variances and shifts their means, a worse but over-dispersed proposal.

    Returns:
        A tuple `(model, exact_log_px)` as `linear_gaussian_vae`.
    """
    from keras_vae.likelihoods.gaussian import Gaussian
    from keras_vae.models.hierarchical_vae import HierarchicalVAE

    check_one_of(posterior, "posterior", POSTERIORS)
    prm = hvae_parameters(data_dim, z1_dim, scale, seed, posterior)
    k1_x, k1_z2, bias1, var1 = prm["k1_x"], prm["k1_z2"], prm["bias1"], prm["var1"]
    k2, bias2, var2 = prm["k2"], prm["bias2"], prm["var2"]
    big_a, a, v = prm["big_a"], prm["a"], prm["v"]
    big_b, big_c, b = prm["big_b"], prm["big_c"], prm["b"]
    m_mat, m_vec, s_mat = prm["m_mat"], prm["m_vec"], prm["s_mat"]

    z1_in = keras.Input((z1_dim,))
    z2_in = keras.Input((1,))
    h_in = keras.Input((data_dim,))
    decoder = keras.layers.Dense(data_dim, name="linear")
    model = HierarchicalVAE(
        latent_dims=(z1_dim, 1),
        likelihood=Gaussian(scale=float(scale)),
        encoder_z2=keras.Sequential([keras.layers.Identity()], name="identity_z2"),
        encoder_z1_x=keras.Sequential([keras.layers.Identity()], name="identity_x"),
        encoder_z1_joint=keras.Model(
            [h_in, z2_in], keras.layers.Concatenate()([h_in, z2_in]), name="concat"
        ),
        prior_z1=keras.Sequential([keras.layers.Identity()], name="identity_p"),
        decoder=keras.Model(
            [z1_in, z2_in],
            decoder(keras.layers.Concatenate()([z1_in, z2_in])),
            name="linear_decoder",
        ),
        min_log_var=-10.0,
        max_log_var=10.0,
        seed=seed,
    )
    model.build((None, data_dim))

    _set_gaussian_head(model.q_z2_head, k2, np.atleast_1d(bias2), np.log([var2]))
    _set_gaussian_head(model.q_z1_head, np.concatenate([k1_x, k1_z2]), bias1, np.log(var1))
    _set_gaussian_head(model.p_z1_head, big_a.T, a, np.log(v))
    decoder.kernel.assign(np.concatenate([big_b.T, big_c.T]).astype("float32"))
    decoder.bias.assign(b.astype("float32"))
    return model, _gaussian_log_density(m_vec, m_mat @ m_mat.T + s_mat)


def hvae_parameters(data_dim, z1_dim, scale, seed, posterior):
    """The parameters of `linear_gaussian_hvae`'s model and its posterior heads."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(data_dim, z1_dim)))
    big_b = _float32(q * rng.uniform(0.5, 2.0, size=z1_dim))  # (D, d1)
    big_c = _float32(rng.normal(size=(data_dim, 1)))
    big_a = _float32(rng.normal(size=(z1_dim, 1)))
    a = _float32(rng.normal(scale=0.5, size=z1_dim))
    b = _float32(rng.normal(scale=0.5, size=data_dim))
    v = _float32(rng.uniform(0.3, 1.5, size=z1_dim))
    s2 = float(scale) ** 2

    m_mat = big_b @ big_a + big_c  # (D, 1)
    m_vec = big_b @ a + b
    s_mat = big_b @ np.diag(v) @ big_b.T + s2 * np.eye(data_dim)
    s_inv = np.linalg.inv(s_mat)
    var2 = 1.0 / (1.0 + (m_mat.T @ s_inv @ m_mat).item())
    k2 = var2 * (s_inv @ m_mat)  # (D, 1): E[z2 | x] = (x - m) k2
    var1 = 1.0 / (1.0 / v + np.sum(big_b**2, axis=0) / s2)  # (d1,)
    k1_x = big_b * var1 / s2  # (D, d1)
    k1_z2 = ((big_a.T / v) - (big_c.T @ big_b) / s2) * var1  # (1, d1)
    c1 = (a / v - b @ big_b / s2) * var1
    bias2, bias1 = -m_vec @ k2, c1
    if posterior == "perturbed":
        bias2 = bias2 + PERTURBED_MEAN_SHIFT * np.sqrt(var2)
        bias1 = bias1 + PERTURBED_MEAN_SHIFT * np.sqrt(var1)
        var2, var1 = var2 * PERTURBED_VARIANCE_FACTOR, var1 * PERTURBED_VARIANCE_FACTOR
    return dict(
        big_a=big_a, a=a, v=v, big_b=big_b, big_c=big_c, b=b, m_mat=m_mat,
        m_vec=m_vec, s_mat=s_mat, k2=k2, bias2=bias2, var2=var2, k1_x=k1_x,
        k1_z2=k1_z2, bias1=bias1, var1=var1,
    )  # fmt: skip


def linear_gaussian_hvae_kls(x, data_dim=4, z1_dim=2, scale=0.5, seed=0, posterior="exact"):
    """Exact per-layer KL terms of the model `linear_gaussian_hvae` builds.

    With the same arguments as `linear_gaussian_hvae`, per example:

    ```none
    kl_z2 = KL(q(z2 | x) || N(0, 1))
    kl_z1 = E_{q(z2 | x)} KL(q(z1 | x, z2) || p(z1 | z2))
          = 1/2 sum_j [ r_j + E[d_j^2] / v_j - 1 - log r_j ],  r_j = var_q1_j / v_j
    ```

    where d(z2) = E_q[z1 | x, z2] - E_p[z1 | z2] is linear in z2, so
    E[d_j^2] = E[d_j]^2 + slope_j^2 Var_q(z2). These are the expectations of
    the model's `kl_1` / `kl_2` metrics (z1, z2) (analytic or Monte Carlo).

    Returns:
        A tuple `(kl_z1, kl_z2)` of float64 arrays of shape `(batch,)`.

    Example:

    >>> x = np.zeros((3, 4), "float32")
    >>> kl_z1, kl_z2 = linear_gaussian_hvae_kls(x, seed=0)
    """
    prm = hvae_parameters(data_dim, z1_dim, scale, seed, posterior)
    x = np.asarray(x, "float64").reshape(-1, data_dim)
    mu2 = (x @ prm["k2"])[:, 0] + float(np.squeeze(prm["bias2"]))  # (batch,)
    var2 = prm["var2"]
    kl_z2 = 0.5 * (var2 + mu2**2 - 1.0 - np.log(var2))
    # d(z2) = d0 + z2 * slope, per latent j.
    d0 = x @ prm["k1_x"] + prm["bias1"] - prm["a"]  # (batch, d1)
    slope = prm["k1_z2"][0] - prm["big_a"][:, 0]  # (d1,)
    mean_d = d0 + mu2[:, None] * slope
    second_moment = mean_d**2 + slope**2 * var2
    ratio = prm["var1"] / prm["v"]
    kl_z1 = 0.5 * np.sum(ratio + second_moment / prm["v"] - 1.0 - np.log(ratio), axis=-1)
    return kl_z1, kl_z2


def lvae_parameters(data_dim, z1_dim, scale, seed, posterior):
    """Generative parameters of `linear_gaussian_lvae` and its heads' values."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(data_dim, z1_dim)))
    norms = rng.uniform(0.5, 2.0, size=z1_dim)
    big_b = _float32(q * norms)  # (D, d1), orthogonal columns
    col2 = np.sum(big_b**2, axis=0)  # c_j^2
    big_a = _float32(rng.normal(size=(z1_dim, 1)))
    a = _float32(rng.normal(scale=0.5, size=z1_dim))
    b = _float32(rng.normal(scale=0.5, size=data_dim))
    v = _float32(rng.uniform(0.3, 1.5, size=z1_dim))
    s2 = float(scale) ** 2

    m_mat = big_b @ big_a  # (D, 1)
    m_vec = big_b @ a + b
    s_mat = big_b @ np.diag(v) @ big_b.T + s2 * np.eye(data_dim)
    s_inv = np.linalg.inv(s_mat)
    var2 = 1.0 / (1.0 + (m_mat.T @ s_inv @ m_mat).item())
    k2 = var2 * (s_inv @ m_mat)  # (D, 1)
    bias2 = -m_vec @ k2  # (1,)
    # The bottom-up term of z1 is the likelihood's: N(B^T (x - b) / c^2, s^2 / c^2).
    var_hat1 = s2 / col2
    k1 = big_b / col2  # (D, d1)
    bias1 = -b @ k1
    if posterior == "perturbed":
        bias2 = bias2 + PERTURBED_MEAN_SHIFT * np.sqrt(var2)
        bias1 = bias1 + PERTURBED_MEAN_SHIFT * np.sqrt(var_hat1)
        var2 = var2 * PERTURBED_VARIANCE_FACTOR
        var_hat1 = var_hat1 * PERTURBED_VARIANCE_FACTOR
    return dict(
        big_a=big_a, a=a, v=v, big_b=big_b, b=b, m_vec=m_vec,
        cov=m_mat @ m_mat.T + s_mat, k2=k2, bias2=bias2, var2=var2, k1=k1,
        bias1=bias1, var_hat1=var_hat1,
    )  # fmt: skip


def linear_gaussian_lvae(data_dim=4, z1_dim=2, scale=0.5, seed=0, posterior="exact"):
    """A two-layer `keras_vae.models.LadderVAE` that is a linear-Gaussian model.

    ```none
    p(z2) = N(0, 1)                         (z2 is one-dimensional)
    p(z1 | z2) = N(A z2 + a, diag v)        (the top-down head)
    p(x | z1)  = N(B z1 + b, s^2 I),        B = Q diag(c), orthonormal Q
    p(x) = N(B a + b, B (A A^T + diag v) B^T + s^2 I)
    bottom-up term of z1:  N(B^T (x - b) / c^2, s^2 / c^2)   (from p(x | z1))
    q(z1 | x, z2) = merge(bottom-up term, p(z1 | z2)) = p(z1 | x, z2)
    q(z2 | x) = p(z2 | x) = N(S2 M^T S^-1 (x - m), S2)
        M = B A,  m = B a + b,  S = B diag(v) B^T + s^2 I,  S2 = (1 + M^T S^-1 M)^-1
    ```

    The ladder's precision-weighted merge of the likelihood term and the prior
    is the exact posterior of z1 given z2, and the top head's linear map is
    the exact posterior of z2, so (`posterior="exact"`) every importance
    weight equals p(x). `"perturbed"` doubles both bottom-up variances and
    shifts their means, an over-dispersed proposal for z2 and for the merge.

    The deterministic blocks are identities (`bottom_up`, `top_down`, set
    before `build`) and the decoder is one linear layer (a subclass's `build`).

    Returns:
        A tuple `(model, exact_log_px)` as `linear_gaussian_vae`.

    Example:

    >>> model, exact_log_px = linear_gaussian_lvae(seed=0)
    >>> x = np.zeros((3, 4), "float32")
    >>> exact_log_px(x).shape
    (3,)
    """
    from keras_vae.likelihoods.gaussian import Gaussian
    from keras_vae.models.ladder_vae import LadderVAE

    check_one_of(posterior, "posterior", POSTERIORS)

    class LinearDecoderLadderVAE(LadderVAE):
        """A LadderVAE whose decoder is one linear layer."""

        def build(self, input_shape):
            super().build(input_shape)
            self.decoder.trainable = False  # replaced: it gets no gradient
            self.decoder = keras.Sequential(
                [keras.Input((self.latent_dims[0],)), keras.layers.Dense(data_dim)],
                name="linear_decoder",
            )

    prm = lvae_parameters(data_dim, z1_dim, scale, seed, posterior)
    model = LinearDecoderLadderVAE(
        latent_dims=(z1_dim, 1),
        hidden_units=(data_dim, data_dim),
        likelihood=Gaussian(scale=float(scale)),
        batch_norm=False,
        min_log_var=-10.0,
        max_log_var=10.0,
        seed=seed,
    )
    model.bottom_up = [
        keras.layers.Identity(name="identity_up_1"),
        keras.layers.Identity(name="identity_up_2"),
    ]
    model.top_down = [keras.layers.Identity(name="identity_down_1")]
    model.build((None, data_dim))
    dense = model.decoder.layers[-1]
    dense.kernel.assign(prm["big_b"].T.astype("float32"))
    dense.bias.assign(prm["b"].astype("float32"))
    _set_gaussian_head(model.bottom_up_heads[0], prm["k1"], prm["bias1"], np.log(prm["var_hat1"]))
    _set_gaussian_head(
        model.bottom_up_heads[1], prm["k2"], np.atleast_1d(prm["bias2"]),
        np.log([prm["var2"]]),
    )  # fmt: skip
    _set_gaussian_head(model.top_down_heads[0], prm["big_a"].T, prm["a"], np.log(prm["v"]))
    return model, _gaussian_log_density(prm["m_vec"], prm["cov"])


def linear_gaussian_lvae_kls(x, data_dim=4, z1_dim=2, scale=0.5, seed=0, posterior="exact"):
    """Exact per-layer KL terms of the model `linear_gaussian_lvae` builds.

    With the same arguments as `linear_gaussian_lvae`, per example, computed
    from the paper's merge rule in numpy:

    ```none
    kl_2 = KL(q(z2 | x) || N(0, 1))
    q(z1 | x, z2) = N(mu_q, s_q^2),  s_q^-2 = s_hat^-2 + v^-1,
                    mu_q = s_q^2 (mu_hat / s_hat^2 + (A z2 + a) / v)
    kl_1 = E_{q(z2 | x)} KL(q(z1 | x, z2) || N(A z2 + a, v))
         = 1/2 sum_j [ r_j + E[d_j^2] / v_j - 1 - log r_j ],  r = s_q^2 / v
    ```

    with d = mu_q - (A z2 + a) linear in z2. These are the expectations of
    the model's `kl_1` and `kl_2` terms.

    Returns:
        A tuple `(kl_1, kl_2)` of float64 arrays of shape `(batch,)`.
    """
    prm = lvae_parameters(data_dim, z1_dim, scale, seed, posterior)
    x = np.asarray(x, "float64").reshape(-1, data_dim)
    mu2 = (x @ prm["k2"])[:, 0] + float(np.squeeze(prm["bias2"]))
    var2 = prm["var2"]
    kl_2 = 0.5 * (var2 + mu2**2 - 1.0 - np.log(var2))
    v, var_hat = prm["v"], prm["var_hat1"]
    mu_hat = x @ prm["k1"] + prm["bias1"]  # (batch, d1)
    var_q = 1.0 / (1.0 / var_hat + 1.0 / v)
    shrink = var_q / v - 1.0
    d0 = var_q * mu_hat / var_hat + shrink * prm["a"]
    slope = shrink * prm["big_a"][:, 0]
    second_moment = (d0 + mu2[:, None] * slope) ** 2 + slope**2 * var2
    ratio = var_q / v
    kl_1 = 0.5 * np.sum(ratio + second_moment / v - 1.0 - np.log(ratio), axis=-1)
    return kl_1, kl_2


def linear_gaussian_vhp_vae(data_dim=3, scale=0.5, seed=0, posterior="exact"):
    """A `keras_vae.models.VHPVAE` with a linear `HierarchicalPrior`, closed form.

    One latent z and one ζ, so every exact posterior is a (1-d) Gaussian
    that the model's heads represent:

    ```none
    p(ζ) = N(0, 1),  p(z | ζ) = N(α ζ + β, σ^2)      (HierarchicalPrior, hidden_units=())
    p(x | z) = N(w z + b, s^2 I)                       (linear decoder)
    p(z) = N(β, τ^2),  τ^2 = α^2 + σ^2
    p(x) = N(w β + b, τ^2 w w^T + s^2 I)
    q(z | x) = p(z | x) = N(v_z (β / τ^2 + w^T (x - b) / s^2), v_z),
               v_z = (1 / τ^2 + |w|^2 / s^2)^-1
    r(ζ | z) = p(ζ | z) = N(v_ζ α (z - β) / σ^2, v_ζ),  v_ζ = (1 + α^2 / σ^2)^-1
    ```

    With `posterior="exact"` the joint proposal q(z | x) r(ζ | z) is the
    exact posterior p(z, ζ | x) (ζ depends on x only through z), so every
    joint importance weight equals p(x). `"perturbed"` doubles both
    variances and shifts both means by half a standard deviation.

    Returns:
        A tuple `(model, exact_log_px)` as `linear_gaussian_vae`.

    Example:

    >>> model, exact_log_px = linear_gaussian_vhp_vae(seed=0)
    >>> x = np.zeros((2, 3), "float32")
    >>> exact_log_px(x).shape
    (2,)
    """
    from keras_vae.likelihoods.gaussian import Gaussian
    from keras_vae.models.vhp_vae import VHPVAE
    from keras_vae.priors.hierarchical_prior import HierarchicalPrior

    check_one_of(posterior, "posterior", POSTERIORS)
    rng = np.random.default_rng(seed)
    alpha = _float32(rng.uniform(0.8, 1.5) * rng.choice([-1.0, 1.0]))
    beta = _float32(rng.normal(scale=0.5))
    sigma2 = _float32(rng.uniform(0.3, 0.8))
    w = _float32(rng.normal(size=data_dim))
    b = _float32(rng.normal(scale=0.5, size=data_dim))
    s2 = float(scale) ** 2
    tau2 = alpha**2 + sigma2

    var_z = 1.0 / (1.0 / tau2 + np.sum(w**2) / s2)
    loc_z_kernel = (w * var_z / s2)[:, None]  # (D, 1)
    loc_z_bias = var_z * (beta / tau2 - w @ b / s2)
    var_zeta = 1.0 / (1.0 + alpha**2 / sigma2)
    loc_zeta_kernel = var_zeta * alpha / sigma2
    loc_zeta_bias = -beta * loc_zeta_kernel
    if posterior == "perturbed":
        loc_z_bias = loc_z_bias + PERTURBED_MEAN_SHIFT * np.sqrt(var_z)
        loc_zeta_bias = loc_zeta_bias + PERTURBED_MEAN_SHIFT * np.sqrt(var_zeta)
        var_z, var_zeta = var_z * PERTURBED_VARIANCE_FACTOR, var_zeta * PERTURBED_VARIANCE_FACTOR

    clamp = dict(min_log_var=-10.0, max_log_var=10.0)
    prior = HierarchicalPrior(
        latent_dim=1, zeta_dim=1, hidden_units=(), num_importance_samples=1, seed=seed, **clamp
    )
    model = VHPVAE(
        kappa=1.0,
        encoder=keras.Sequential([keras.layers.Flatten()], name="identity_encoder"),
        decoder=keras.Sequential([keras.layers.Dense(data_dim)], name="linear_decoder"),
        latent_dim=1,
        prior=prior,
        likelihood=Gaussian(scale=float(scale)),
        seed=seed,
        **clamp,
    )
    model.build((None, data_dim))
    dense = model.decoder.layers[0]
    dense.kernel.assign(w[None, :].astype("float32"))
    dense.bias.assign(b.astype("float32"))
    _set_gaussian_head(model.posterior, loc_z_kernel, [loc_z_bias], [np.log(var_z)])
    _set_gaussian_head(model.prior.conditional_head, [[alpha]], [beta], [np.log(sigma2)])
    _set_gaussian_head(
        model.prior.inference_head, [[loc_zeta_kernel]], [loc_zeta_bias], [np.log(var_zeta)]
    )
    cov = tau2 * np.outer(w, w) + s2 * np.eye(data_dim)
    return model, _gaussian_log_density(w * beta + b, cov)
