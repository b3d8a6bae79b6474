"""BetaTCVAE: a VAE whose KL term is split into index-code MI, total correlation and dimension-wise KL."""

import keras
from keras import ops

from keras_vae.losses.gaussian import log_normal
from keras_vae.losses.total_correlation import ESTIMATORS
from keras_vae.losses.total_correlation import minibatch_log_q
from keras_vae.models.vae import VAE
from keras_vae.utils.validation import check_one_of
from keras_vae.utils.validation import check_positive_int

DECOMPOSITION = ("mutual_information", "total_correlation", "dimension_wise_kl")


def _check_weight(value, name):
    value = float(value)
    if not value >= 0.0:
        raise ValueError(
            f"Expected `{name}` to be a non-negative float. Received: {name}={value!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="keras_vae")
class BetaTCVAE(VAE):
    """beta-TC-VAE (Chen et al., 2018): the ELBO's KL term decomposed and reweighted.

    ```none
    E_p(x)[ KL(q(z|x) || p(z)) ] = I_q(x; z)                     index-code MI
                                 + KL(q(z) || prod_d q(z_d))      total correlation
                                 + sum_d KL(q(z_d) || p(z_d))     dimension-wise KL
    loss_i = -( log p(x_i | z_i) - alpha MI_i - beta TC_i - gamma DWKL_i ),  z_i ~ q(z | x_i)
    MI_i   = log q(z_i | x_i) - log q(z_i)
    TC_i   = log q(z_i) - sum_d log q(z_id)
    DWKL_i = sum_d log q(z_id) - log p(z_i)
    ```

    q(z) = (1/N) sum_n q(z | x_n) is the aggregate posterior of the N
    training examples; log q(z_i) and log q(z_id) are minibatch estimates
    from the posteriors of the batch (`keras_vae.losses.minibatch_log_q`,
    minibatch weighted sampling by default), so each example's terms depend
    on the rest of its batch. The three terms telescope: their sum is
    log q(z_i | x_i) - log p(z_i), the single-sample KL, so with
    alpha = beta = gamma = 1 the loss is the negative ELBO. beta > 1
    penalizes only the total correlation, the term blamed for entangled
    latents; alpha = gamma = 1 are the paper's defaults.

    `beta` is the model's `beta` variable (`keras_vae.callbacks.KLWarmUp`
    schedules it), here the weight of the total correlation alone. The
    metrics are `loss`, `elbo` (the true bound, beta-free, with the
    analytic KL when the prior has one), `reconstruction`, `kl`,
    `mutual_information`, `total_correlation`, `dimension_wise_kl` (batch
    means of the estimates above) and `beta`. Under `"mws"` the values of
    the three terms are offset by constants (log N, (d - 1) log N and
    -d log N against the batch mixture; see `minibatch_log_q`); their sum
    is not.

    A beta-VAE (Higgins et al., 2017) needs no class of its own: it is
    `keras_vae.models.VAE(beta=...)`, whose `beta` weights the whole KL term.

    Args:
        dataset_size: Positive integer N, the number of training examples
            (the weight of each posterior in q(z)).
        alpha: Non-negative weight of the index-code mutual information.
            Defaults to 1.
        beta: Initial weight of the total correlation (a variable).
            Defaults to 6.
        gamma: Non-negative weight of the dimension-wise KL. Defaults to 1.
        estimator: `"mws"` (minibatch weighted sampling, the default) or
            `"stratified"`; see `keras_vae.losses.minibatch_log_q`.
        encoder: As in `keras_vae.models.VAE`.
        decoder: As in `keras_vae.models.VAE`.
        latent_dim: As in `keras_vae.models.VAE`. Defaults to 10.
        prior: As in `keras_vae.models.VAE`; the dimension-wise KL is
            against the prior's joint density log p(z), the sum of its
            marginals for a factorized prior such as the default.
        likelihood: As in `keras_vae.models.VAE`.
        hidden_units: As in `keras_vae.models.VAE`.
        **kwargs: `keras.Model` keyword arguments, and `min_log_var`,
            `max_log_var`, `dynamic_binarization`, `num_classes` (a
            conditional model: q(z) aggregates q(z | x, c)) and `seed` as in
            `keras_vae.models.VAE`. The objective is the ELBO with one
            sample of z per example (`objective`, `num_importance_samples`,
            `gradient_estimator` and `analytic_kl` are fixed).

    Example:

    >>> model = keras_vae.models.BetaTCVAE(
    ...     dataset_size=len(x_train), beta=6.0, latent_dim=4, hidden_units=(64,), seed=0
    ... )
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, epochs=1, batch_size=100, verbose=0)
    >>> sorted(set(history.history) & {"mutual_information", "total_correlation"})
    ['mutual_information', 'total_correlation']

    Reference:
        - [Chen et al., 2018](https://arxiv.org/abs/1802.04942), Sec. 3-4.
        - [Higgins et al., 2017](https://openreview.net/forum?id=Sy2fzU9gl)
    """

    def __init__(
        self,
        dataset_size,
        alpha=1.0,
        beta=6.0,
        gamma=1.0,
        estimator="mws",
        encoder=None,
        decoder=None,
        latent_dim=10,
        prior=None,
        likelihood="bernoulli",
        hidden_units=(300, 300),
        **kwargs,
    ):
        super().__init__(
            encoder=encoder,
            decoder=decoder,
            latent_dim=latent_dim,
            prior=prior,
            likelihood=likelihood,
            objective="elbo",
            num_importance_samples=1,
            beta=beta,
            hidden_units=hidden_units,
            analytic_kl=True,
            metric_names=DECOMPOSITION,
            **kwargs,
        )
        self.dataset_size = check_positive_int(dataset_size, "dataset_size")
        self.alpha = _check_weight(alpha, "alpha")
        self.gamma = _check_weight(gamma, "gamma")
        self.estimator = check_one_of(estimator, "estimator", ESTIMATORS)

    def compute_terms(self, x, training=False):
        x, c = self.split_condition(x)  # with `num_classes`, q(z | x, c)
        self.check_input(x)
        loc, scale = self.posterior_params(x, training, c)
        z = self.reparameterize(loc, scale)
        rec = self.likelihood.log_prob(x, self.decoder_params(z, training, c))
        log_q_zx = log_normal(z, loc, scale)
        log_p_z = self.prior.log_prob(z)
        log_q_z, log_q_marginals = minibatch_log_q(z, loc, scale, self.dataset_size, self.estimator)
        log_prod_q = ops.sum(log_q_marginals, axis=-1)
        mi = log_q_zx - log_q_z
        tc = log_q_z - log_prod_q
        dwkl = log_prod_q - log_p_z
        if self.prior.has_analytic_kl:
            kl = self.prior.kl_divergence(loc, scale)
        else:
            kl = log_q_zx - log_p_z
        beta = ops.cast(self.beta, "float32")
        penalty = self.alpha * mi + beta * tc + self.gamma * dwkl
        return {
            "loss": -(rec - penalty),
            "elbo": rec - kl,
            "reconstruction": rec,
            "kl": kl,
            "mutual_information": mi,
            "total_correlation": tc,
            "dimension_wise_kl": dwkl,
        }

    def get_config(self):
        config = super().get_config()
        # Fixed by this class (see the `**kwargs` argument).
        for name in ("objective", "num_importance_samples", "gradient_estimator", "analytic_kl"):
            config.pop(name, None)
        config.update(
            dataset_size=self.dataset_size,
            alpha=self.alpha,
            gamma=self.gamma,
            estimator=self.estimator,
        )
        return config
