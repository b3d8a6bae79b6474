"""Per-column observation model for mixed-type tabular data."""

import math

import keras
import numpy as np
from keras import ops

from keras_vae.likelihoods.likelihood import Likelihood
from keras_vae.utils import random

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)

KINDS = ("gaussian", "bernoulli", "categorical")


def _normalize_columns(columns):
    """`columns` as a tuple of `(kind, width)` pairs, checked."""
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise ValueError(
            "Expected `columns` to be a list of (kind, width) pairs, e.g. "
            '[("gaussian", 3), ("bernoulli", 2), ("categorical", 4)]. '
            f"Received: columns={columns!r}"
        )
    spec = []
    for entry in columns:
        ok = isinstance(entry, (tuple, list)) and len(entry) == 2
        kind, width = entry if ok else (None, None)
        ok = ok and kind in KINDS and isinstance(width, (int, np.integer))
        ok = ok and not isinstance(width, bool) and width >= (2 if kind == "categorical" else 1)
        if not ok:
            raise ValueError(
                f"Expected each entry of `columns` to be a pair (kind, width) with kind "
                f"one of {list(KINDS)} and width a positive integer (at least 2, the "
                f"number of categories, for 'categorical'). Received: {entry!r} in "
                f"columns={columns!r}"
            )
        spec.append((str(kind), int(width)))
    if not spec:
        raise ValueError("Expected at least one entry in `columns`. Received: columns=[]")
    return tuple(spec)


@keras.saving.register_keras_serializable(package="keras_vae")
class Tabular(Likelihood):
    """Factorized likelihood of mixed-type tabular data: one model per column.

    A row x of a table is a vector of features laid out block by block as
    `columns` says; each block is scored by its own observation model, with
    the decoder's output l = decoder(z) (one parameter per feature, so
    `params` has the shape of x) as its parameters:

    ```none
    log p(x | z) = sum_{gaussian j}    log N(x_j; l_j, sigma_j^2)
                 + sum_{bernoulli j}   x_j l_j - softplus(l_j)
                 + sum_{categorical c} sum_{k in c} x_k log softmax(l_c)_k
    ```

    - `("gaussian", n)`: n real columns, mean l_j and a learned scale sigma_j
      per column (a weight `log_scale` of shape `(num_gaussian,)`, clamped
      to `[min_log_scale, max_log_scale]`, as `Gaussian(learn_scale=True)`);
      with `learn_scale=False` sigma_j = `scale`. Standardize these columns
      (zero mean, unit variance on the training set): the scale starts at
      `scale`.
    - `("bernoulli", n)`: n binary columns x_j in {0, 1} with logits l_j.
    - `("categorical", K)`: one categorical column with K >= 2 categories,
      **one-hot encoded** in K consecutive features (exactly one is 1), with
      logits l_c. One-hot, not integer codes, because the models' decoders
      output `params` with the shape of x and a categorical needs K logits;
      `from_codes` turns a table with integer codes in [0, K) into this
      layout and `to_codes` back.

    Each entry's number is its width in x, so x has `num_features = sum of
    widths` features and `num_columns` variables (a categorical block is one).
    The density is zero outside the data's support, so `log_prob` is -inf
    for a row with a Bernoulli value other than 0 or 1 or a categorical
    block that is not one-hot: a model trained on such a batch stops with a
    non-finite loss (its step is skipped). `check_data` refuses such data
    on the host with a message naming the column. The declared `support`
    is `(0.0, 1.0)` when every column is Bernoulli or categorical and
    `None` (any finite value) as soon as one is Gaussian;
    `support_bounds()` gives the per-feature interval. The data are not
    binary (`binary = False`): models refuse `dynamic_binarization=True`.

    Args:
        columns: List of `(kind, width)` pairs, kind one of `"gaussian"`,
            `"bernoulli"`, `"categorical"` (see above); JSON-serializable.
        scale: Positive float, the Gaussian columns' initial (or, with
            `learn_scale=False`, fixed) scale. Defaults to `1.0`.
        learn_scale: Whether the Gaussian scales are trainable. Defaults to
            `True`.
        min_log_scale: Lower clamp of the learned log-scale. Defaults to -7.
        max_log_scale: Upper clamp of the learned log-scale. Defaults to 2.
        seed: Optional integer seed of `sample`.
        **kwargs: Base layer keyword arguments.

    Example:

    >>> lik = keras_vae.likelihoods.Tabular(
    ...     columns=[("gaussian", 2), ("bernoulli", 1), ("categorical", 3)])
    >>> (lik.num_features, lik.num_columns)
    (6, 4)
    >>> x = lik.from_codes(np.array([[0.5, -1.0, 1.0, 2.0]], "float32"))
    >>> x.tolist()
    [[0.5, -1.0, 1.0, 0.0, 0.0, 1.0]]
    >>> lik.column_log_prob(x, np.zeros((1, 6), "float32")).shape
    TensorShape([1, 4])
    >>> vae = keras_vae.models.VAE(likelihood=lik, latent_dim=2, hidden_units=(16,))
    """

    binary = False

    def __init__(
        self,
        columns,
        scale=1.0,
        learn_scale=True,
        min_log_scale=-7.0,
        max_log_scale=2.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.columns = _normalize_columns(columns)
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"Expected `scale` to be a positive float. Received: scale={scale!r}")
        if not float(min_log_scale) < float(max_log_scale):
            raise ValueError(
                "Expected `min_log_scale` < `max_log_scale`. Received: "
                f"min_log_scale={min_log_scale!r}, max_log_scale={max_log_scale!r}"
            )
        self.scale = float(scale)
        self.learn_scale = bool(learn_scale)
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)
        # (kind, start, stop) of each block in x, and of each variable.
        self.blocks = []
        start = 0
        for kind, width in self.columns:
            self.blocks.append((kind, start, start + width))
            start += width
        self.num_features = start
        self.num_gaussian = sum(w for k, w in self.columns if k == "gaussian")
        self.num_columns = sum(1 if k == "categorical" else w for k, w in self.columns)

    # ------------------------------------------------------------- support
    @property
    def support(self):
        """`(0.0, 1.0)` without Gaussian columns, else `None` (see the class)."""
        return None if self.num_gaussian else (0.0, 1.0)

    def support_bounds(self):
        """Per-feature closed intervals `(low, high)`, float32 arrays `(num_features,)`.

        `(-inf, inf)` for Gaussian features, `(0, 1)` for the others (a
        necessary condition: `check_data` also checks that they are 0 or 1
        and that categorical blocks are one-hot).
        """
        low = np.zeros(self.num_features, "float32")
        high = np.ones(self.num_features, "float32")
        for kind, start, stop in self.blocks:
            if kind == "gaussian":
                low[start:stop], high[start:stop] = -np.inf, np.inf
        return low, high

    def check_data(self, x, name="x"):
        """Raise a `ValueError` unless `x` is a batch of valid rows.

        Valid: shape `(batch, num_features)`, finite, Bernoulli features in
        {0, 1}, each categorical block one-hot. The message names the first
        offending column (its index in `columns` order, kind and features)
        and row. Returns `x` as a float32 numpy array.
        """
        x = np.asarray(x, "float32")
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"Expected `{name}` of shape (batch, {self.num_features}) for columns="
                f"{list(self.columns)}. Received: {name}.shape={x.shape}"
            )
        column = 0
        for kind, start, stop in self.blocks:
            block = x[:, start:stop]
            if kind == "categorical":
                bad = ~(np.all((block == 0) | (block == 1), axis=1) & (np.sum(block, axis=1) == 1))
                rule = f"a one-hot block of {stop - start} categories"
            elif kind == "bernoulli":
                bad = np.any((block != 0) & (block != 1), axis=1)
                rule = "0 or 1"
            else:
                bad = np.any(~np.isfinite(block), axis=1)
                rule = "finite"
            if np.any(bad):
                row = int(np.argmax(bad))
                if kind != "categorical":
                    offset = int(np.argmax(~_valid_values(kind, block[row])))
                    start, stop, column = start + offset, start + offset + 1, column + offset
                hint = " Encode categorical codes one-hot with `from_codes`." * (
                    kind == "categorical"
                )
                raise ValueError(
                    f"Expected column {column} ({kind}, features [{start}:{stop}]) of "
                    f"`{name}` to be {rule}. Received: {x[row, start:stop].tolist()} in "
                    f"row {row}.{hint}"
                )
            column += 1 if kind == "categorical" else stop - start
        return x

    # ------------------------------------------------------------ encoding
    def from_codes(self, codes):
        """The model's layout of a table with one column per variable.

        `codes` has shape `(batch, num_columns)`: Gaussian and Bernoulli
        values as they are, categorical columns as integer codes in [0, K).
        Returns a float32 numpy array `(batch, num_features)`, the categorical
        columns one-hot. Raises a `ValueError` for a code outside [0, K).
        """
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.num_columns:
            raise ValueError(
                f"Expected `codes` of shape (batch, {self.num_columns}), one column per "
                f"variable of columns={list(self.columns)}. Received: shape={codes.shape}"
            )
        parts, column = [], 0
        for kind, width in self.columns:
            if kind != "categorical":
                parts.append(codes[:, column : column + width].astype("float32"))
                column += width
                continue
            code = codes[:, column]
            if not np.all((code == np.round(code)) & (code >= 0) & (code < width)):
                raise ValueError(
                    f"Expected the codes of categorical column {column} to be integers in "
                    f"[0, {width}). Received: values in [{code.min()}, {code.max()}]"
                )
            parts.append(np.eye(width, dtype="float32")[code.astype("int64")])
            column += 1
        return np.concatenate(parts, axis=1)

    def to_codes(self, x):
        """Inverse of `from_codes`: categorical blocks to their argmax codes."""
        x = np.asarray(x)
        parts = []
        for kind, start, stop in self.blocks:
            if kind == "categorical":
                parts.append(np.argmax(x[..., start:stop], axis=-1)[..., None].astype(x.dtype))
            else:
                parts.append(x[..., start:stop])
        return np.concatenate(parts, axis=-1)

    # ------------------------------------------------------------- density
    def build(self, params_shape):
        features = params_shape[-1]
        if len(params_shape) != 2 or features != self.num_features:
            raise ValueError(
                f"Expected tabular data of shape (batch, {self.num_features}) for "
                f"columns={list(self.columns)}. Received: shape {tuple(params_shape)}"
            )
        if self.learn_scale and self.num_gaussian:
            self.log_scale = self.add_weight(
                name="log_scale",
                shape=(self.num_gaussian,),
                initializer=keras.initializers.Constant(math.log(self.scale)),
                autocast=False,
            )
        self.built = True

    def gaussian_scale(self):
        """sigma of the Gaussian columns, `(num_gaussian,)` float32 (clamped)."""
        if not self.learn_scale:
            return ops.full((self.num_gaussian,), self.scale, "float32")
        log_scale = ops.clip(
            ops.cast(self.log_scale, "float32"), self.min_log_scale, self.max_log_scale
        )
        return ops.exp(log_scale)

    def log_prob(self, x, params):
        if not self.built:
            self.build(tuple(x.shape))
        return super().log_prob(x, params)

    def _log_prob_elementwise(self, x, params):
        # Per feature; a categorical block's features sum to its log-probability.
        parts = [terms for _, terms in self._block_terms(x, params)]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def column_log_prob(self, x, params):
        """log p(x_c | z) of every column c, shape `(..., batch, num_columns)`.

        The columns in `columns` order, a categorical block being one
        column; their sum over the last axis is `log_prob(x, params)`.
        """
        if not self.built:
            self.build(tuple(x.shape))
        x = ops.cast(x, "float32")
        params = ops.cast(params, "float32")
        parts = []
        for kind, terms in self._block_terms(x, params):
            parts.append(ops.sum(terms, axis=-1, keepdims=True) if kind == "categorical" else terms)
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def _block_terms(self, x, params):
        """`(kind, per-feature log-density)` of each block, -inf off support."""
        scale = self.gaussian_scale() if self.num_gaussian else None
        g = 0
        for kind, start, stop in self.blocks:
            xb, lb = x[..., start:stop], params[..., start:stop]
            if kind == "gaussian":
                s = scale[g : g + stop - start]
                g += stop - start
                u = (xb - lb) / s
                yield kind, -0.5 * ops.square(u) - ops.log(s) - _HALF_LOG_TWO_PI
                continue
            if kind == "bernoulli":
                # x l - softplus(l), stable for large |l| (see `Bernoulli`).
                terms = xb * lb - ops.softplus(lb)
                valid = ops.logical_or(ops.equal(xb, 0.0), ops.equal(xb, 1.0))
            else:
                terms = xb * ops.log_softmax(lb, axis=-1)
                binary = ops.all(ops.logical_or(ops.equal(xb, 0.0), ops.equal(xb, 1.0)), axis=-1)
                one_hot = ops.logical_and(binary, ops.equal(ops.sum(xb, axis=-1), 1.0))
                valid = ops.expand_dims(one_hot, -1)
            # x l broadcasts over params' sample axes; so must the mask.
            valid = ops.broadcast_to(valid, ops.shape(terms))
            yield kind, ops.where(valid, terms, -math.inf)

    # ------------------------------------------------------- mean, sample
    def mean(self, params):
        """E[x | z]: the Gaussian means, Bernoulli probabilities and the
        categorical probabilities (the mean of a one-hot vector)."""
        params = ops.cast(params, self.compute_dtype)
        parts = []
        for kind, start, stop in self.blocks:
            lb = params[..., start:stop]
            if kind == "gaussian":
                parts.append(lb)
            elif kind == "bernoulli":
                parts.append(ops.sigmoid(lb))
            else:
                parts.append(ops.softmax(lb, axis=-1))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def sample(self, params, seed=None):
        """A draw of every column: one-hot categorical blocks (Gumbel-max)."""
        params = ops.cast(params, "float32")
        seed = seed or self.seed_generator
        scale = self.gaussian_scale() if self.num_gaussian else None
        parts, g = [], 0
        for kind, start, stop in self.blocks:
            lb = params[..., start:stop]
            if kind == "gaussian":
                noise = random.normal(ops.shape(lb), seed=seed)
                parts.append(lb + scale[g : g + stop - start] * noise)
                g += stop - start
            elif kind == "bernoulli":
                u = random.uniform(ops.shape(lb), seed=seed)
                parts.append(ops.cast(u < ops.sigmoid(lb), "float32"))
            else:
                # argmax(l + Gumbel noise) ~ Categorical(softmax(l)).
                u = random.uniform(ops.shape(lb), seed=seed)
                gumbel = -ops.log(-ops.log(ops.maximum(u, 1e-20)))
                index = ops.argmax(lb + gumbel, axis=-1)
                parts.append(ops.one_hot(index, stop - start, dtype="float32"))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "columns": [[kind, width] for kind, width in self.columns],
            "scale": self.scale,
            "learn_scale": self.learn_scale,
            "min_log_scale": self.min_log_scale,
            "max_log_scale": self.max_log_scale,
        }


def _valid_values(kind, values):
    if kind == "bernoulli":
        return (values == 0) | (values == 1)
    return np.isfinite(values)
