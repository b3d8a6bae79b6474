"""The conformance registry data: every public symbol of keras_vae and its test spec.

`CONFORMANCE` maps each public dotted name (`"keras_vae.layers.GatedDense"`)
to a `Spec`, or a tuple of `Spec`s (several configurations of one class).
`tests/conformance/test_registry.py` checks that the registry and
`public_symbols()` agree exactly, and runs the shared checks of each kind:

- `"layer"`: `run_layer_test` with the spec's arguments;
- `"model"`: `run_model_test` (serialization, XLA fit, `.keras` I/O);
- `"loss"`: `run_serialization_test` and a finite scalar on `y_pred`;
- `"callback"`: `run_serialization_test`;
- `"base_class"`: an abstract base meant to be subclassed (not registered
  for serialization itself);
- `"model_component"`: a layer that only works inside a model (a
  `VampPrior` needs the model's encoder); some `"model"` spec must use it,
  so the model checks cover it;
- `"function"`, `"exception"`, `"data_class"` (a `NamedTuple` result),
  `"constant"`, `"module"`: markers; the object must be of that kind and
  (except constants) documented.

A new public symbol must be added here, with the smallest configuration
that exercises it, or the conformance test fails. The lookups and checks
over this data live in `keras_vae.testing.conformance`.

`USER_MODELS` is a separate table: models that are not keras_vae symbols but
a user's subclasses on the public contract (the `examples/custom_model`
IWAE), keyed by an importable `"package.module:Class"` path. The model
checks of the suite (`run_model_test`, a `.keras` load in a fresh process,
`clone_model`, `summary()`, exact resume, mixed precision, export and
serving) run on them as on the public models.
"""

import dataclasses

import numpy as np

KINDS = (
    "layer",
    "model",
    "loss",
    "callback",
    "base_class",
    "model_component",
    "function",
    "exception",
    "data_class",
    "constant",
    "module",
)
"""The kinds of public symbol a `Spec` can register (see the module docstring)."""

# Subpackages whose `__all__` makes up the public API, in DESIGN.md order.
SUBPACKAGES = (
    "layers",
    "priors",
    "likelihoods",
    "losses",
    "models",
    "callbacks",
    "diagnostics",
    "metrics",
    "export",
    "datasets",
)


@dataclasses.dataclass(frozen=True)
class Spec:
    """How the conformance suite tests one public symbol.

    Args:
        kind: One of `KINDS`.
        init_kwargs: Constructor arguments (layers, models, losses,
            callbacks).
        input_shape: Layers: a shape or tuple of shapes of standard normal
            inputs. Losses: the shape of `y_pred`.
        input_data: Layers and models: an array, tuple of arrays or callable
            `rng -> data` (instead of `input_shape`).
        call_kwargs: Layers: keyword arguments of the call.
        expected_output_shape: Layers: a shape or nest of shapes.
        run_training_check: Layers: run the XLA `fit` step.
        deterministic: Compare outputs exactly after `.keras` save/load.
        train_all_weights: Layers: require a gradient for every trainable
            weight in the `fit` check.
        untrained_weights: Models: substrings of the paths of trainable
            weights that may stay unchanged in the `fit` check (say why in
            `note`); every other trainable weight must move.
        condition_data: Conditional models: the condition c of each example
            of `input_data` (class ids `(batch,)` or vectors), an array or a
            callable `rng -> array` called with the same `rng` after
            `input_data`. The checks then train with `fit(x, c)` and call
            the model on the pair `(x, c)`. `None` for a model of p(x).
        note: Why the spec is what it is, when that is not obvious.
    """

    kind: str
    init_kwargs: dict = dataclasses.field(default_factory=dict)
    input_shape: object = None
    input_data: object = None
    call_kwargs: dict = dataclasses.field(default_factory=dict)
    expected_output_shape: object = None
    run_training_check: bool = True
    deterministic: bool = True
    train_all_weights: bool = True
    untrained_weights: tuple = ()
    condition_data: object = None
    note: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Expected `kind` to be one of {KINDS}. Received: kind={self.kind!r}")

    def layer_test_kwargs(self):
        """Keyword arguments of `run_layer_test` for a `"layer"` spec."""
        return {
            "init_kwargs": dict(self.init_kwargs),
            "input_data": self.input_data,
            "input_shape": self.input_shape,
            "call_kwargs": dict(self.call_kwargs),
            "expected_output_shape": self.expected_output_shape,
            "run_training_check": self.run_training_check,
            "deterministic": self.deterministic,
            "train_all_weights": self.train_all_weights,
        }


def _marker(kind, note=""):
    return Spec(kind=kind, note=note)


FUNCTION = _marker("function")
BASE_CLASS = _marker("base_class")
CALLBACK = Spec(kind="callback")
DATA_CLASS = _marker("data_class")


def _binary_images(rng):
    return (rng.uniform(size=(8, 4, 4, 1)) < 0.5).astype("float32")


def _gaussian_pairs(rng):
    def pair():
        return (
            rng.normal(size=(4, 3)).astype("float32"),
            np.exp(rng.uniform(-1.0, 1.0, size=(4, 3))).astype("float32"),
        )

    return pair(), pair()


def _pixelcnn_pair(rng):
    # One (v, h) input pair: the first block's vertical and horizontal inputs.
    v = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    return ((v, rng.normal(size=(2, 4, 4, 3)).astype("float32")),)


def _code_maps(rng):
    return rng.randint(0, 5, size=(8, 3, 3)).astype("int32")


def _vamp_prior(num_components):
    # A config, not an instance: each model built from the spec gets its own.
    return {"class_name": "keras_vae>VampPrior", "config": {"num_components": num_components}}


# The codebook and widths both VQVAE specs share.
_VQVAE_SIZES = {"num_embeddings": 6, "embedding_dim": 3, "filters": 4, "residual_units": 2}


CONFORMANCE = {
    # ---------------------------------------------------------------- layers
    "keras_vae.layers.GatedConv2D": (
        Spec(
            "layer",
            {"filters": 3, "kernel_size": 3, "strides": 2},
            input_shape=(2, 5, 5, 2),
            expected_output_shape=(2, 3, 3, 3),
        ),
        Spec(
            "layer",
            {
                "filters": 2,
                "kernel_size": (3, 1),
                "padding": "valid",
                "kernel_regularizer": "l2",
            },
            input_shape=(2, 5, 4, 3),
            expected_output_shape=(2, 3, 4, 2),
        ),
    ),
    "keras_vae.layers.GatedDense": (
        Spec("layer", {"units": 3}, input_shape=(4, 5), expected_output_shape=(4, 3)),
        Spec(
            "layer",
            {"units": 3, "activation": "tanh", "kernel_regularizer": "l2"},
            input_shape=(2, 3, 5),
            expected_output_shape=(2, 3, 3),
        ),
    ),
    "keras_vae.layers.GatedPixelCNNBlock": (
        Spec(
            "layer",
            {"filters": 3, "mask_type": "A"},
            input_data=_pixelcnn_pair,
            expected_output_shape=((2, 4, 4, 3), (2, 4, 4, 3)),
        ),
        Spec(
            "layer",
            {"filters": 3, "kernel_size": 5},
            input_data=_pixelcnn_pair,
            expected_output_shape=((2, 4, 4, 3), (2, 4, 4, 3)),
            note="mask B adds its input h, so h has `filters` channels",
        ),
    ),
    "keras_vae.layers.GaussianParameters": Spec(
        "layer",
        {"units": 3, "min_log_var": -4.0, "max_log_var": 1.0},
        input_shape=(4, 5),
        expected_output_shape=((4, 3), (4, 3)),
    ),
    "keras_vae.layers.GaussianSample": (
        Spec(
            "layer",
            {"seed": 7},
            input_shape=((4, 3), (4, 3)),
            expected_output_shape=(4, 3),
        ),
        Spec(
            "layer",
            {"num_samples": 2, "seed": 7},
            input_shape=((4, 3), (4, 3)),
            expected_output_shape=(2, 4, 3),
        ),
    ),
    "keras_vae.layers.PrecisionWeightedMerge": Spec(
        "layer",
        {},
        input_data=_gaussian_pairs,
        expected_output_shape=((4, 3), (4, 3)),
        note="two (loc, scale) pairs with positive scales",
    ),
    "keras_vae.layers.VectorQuantizer": (
        Spec(
            "layer",
            {"num_embeddings": 5, "embedding_dim": 3, "seed": 1},
            input_shape=(4, 2, 3),
            expected_output_shape=(4, 2, 3),
        ),
        Spec(
            "layer",
            {
                "num_embeddings": 6,
                "embedding_dim": 2,
                "kmeans_init": True,
                "restart_dead_codes": True,
                "dead_code_steps": 1,
                "seed": 1,
            },
            input_shape=(4, 3, 3, 2),
            expected_output_shape=(4, 3, 3, 2),
            note="k-means on the first training call; every unused code restarts",
        ),
    ),
    "keras_vae.layers.VectorQuantizerEMA": Spec(
        "layer",
        {
            "num_embeddings": 5,
            "embedding_dim": 3,
            "decay": 0.9,
            "kmeans_init": True,
            "restart_dead_codes": True,
            "dead_code_steps": 2,
            "seed": 1,
        },
        input_shape=(6, 3),
        expected_output_shape=(6, 3),
        note="no trainable weights: the codebook follows EMAs in training calls",
    ),
    # ---------------------------------------------------------------- priors
    "keras_vae.priors.Prior": BASE_CLASS,
    "keras_vae.priors.StandardNormal": (
        Spec("layer", {"latent_dim": 3}, input_shape=(4, 3), expected_output_shape=(4,)),
        Spec(
            "layer",
            {},
            input_shape=(4, 3),
            expected_output_shape=(4,),
            note="latent_dim inferred at build time, as inside a model",
        ),
    ),
    "keras_vae.priors.MixtureOfGaussians": Spec(
        "layer",
        {"num_components": 2, "latent_dim": 3, "seed": 1},
        input_shape=(4, 3),
        expected_output_shape=(4,),
    ),
    "keras_vae.priors.HierarchicalPrior": Spec(
        "layer",
        {
            "latent_dim": 3,
            "zeta_dim": 2,
            "hidden_units": (4,),
            "num_importance_samples": 3,
            "seed": 1,
        },
        input_shape=(4, 3),
        expected_output_shape=(4,),
        note="log_prob draws the importance samples of zeta from the prior's "
        "seeded generator, so outputs match once its state is aligned",
    ),
    "keras_vae.priors.VampPrior": _marker(
        "model_component", note="runs on the model's encoder; see the VAE and HierarchicalVAE specs"
    ),
    "keras_vae.priors.get": FUNCTION,
    # ----------------------------------------------------------- likelihoods
    "keras_vae.likelihoods.Likelihood": BASE_CLASS,
    "keras_vae.likelihoods.Bernoulli": Spec(
        "layer", {}, input_shape=(4, 3, 2), expected_output_shape=(4, 3, 2)
    ),
    "keras_vae.likelihoods.DiscretizedLogistic": Spec(
        "layer",
        {"num_bins": 16},
        input_shape=(4, 3, 4),
        expected_output_shape=(4, 3, 2),
        note="params hold a location and a log-scale per channel",
    ),
    "keras_vae.likelihoods.Gaussian": (
        Spec("layer", {"scale": 0.5}, input_shape=(4, 3), expected_output_shape=(4, 3)),
        Spec(
            "layer",
            {"learn_scale": True},
            input_shape=(4, 3),
            expected_output_shape=(4, 3),
            run_training_check=False,
            note="the call returns the mean; the learned scale only enters "
            "log_prob, so a fit on the call has no gradient to apply",
        ),
    ),
    "keras_vae.likelihoods.Tabular": Spec(
        "layer",
        {"columns": [["gaussian", 2], ["bernoulli", 1], ["categorical", 3]]},
        input_shape=(4, 6),
        expected_output_shape=(4, 6),
        run_training_check=False,
        note="the call returns the mean; the learned Gaussian scales only "
        "enter log_prob, so a fit on the call has no gradient to apply",
    ),
    "keras_vae.likelihoods.get": FUNCTION,
    # ---------------------------------------------------------------- losses
    "keras_vae.losses.ELBOLoss": Spec("loss", input_shape=(4, 3)),
    "keras_vae.losses.IWAELoss": Spec("loss", input_shape=(4, 3)),
    "keras_vae.layers.GECO": _marker(
        "model_component", note="holds a model's Lagrange multiplier; see the VAE and VHPVAE specs"
    ),
    "keras_vae.losses.elbo": FUNCTION,
    "keras_vae.losses.iwae_bound": FUNCTION,
    "keras_vae.losses.iwae_objective": FUNCTION,
    "keras_vae.losses.kl_normal": FUNCTION,
    "keras_vae.losses.log_mean_exp": FUNCTION,
    "keras_vae.losses.log_normal": FUNCTION,
    "keras_vae.losses.minibatch_log_q": FUNCTION,
    "keras_vae.losses.total_correlation": FUNCTION,
    # ---------------------------------------------------------------- models
    "keras_vae.models.Autoencoder": BASE_CLASS,
    "keras_vae.models.LatentVariableModel": BASE_CLASS,
    "keras_vae.models.LayeredLatents": _marker(
        "base_class", "the mixin of models with several latent layers"
    ),
    "keras_vae.models.BetaTCVAE": Spec(
        "model",
        {"dataset_size": 100, "latent_dim": 2, "hidden_units": (8,), "seed": 1},
        input_data=_binary_images,
    ),
    "keras_vae.models.FactorVAE": Spec(
        "model",
        {"latent_dim": 2, "hidden_units": (8,), "discriminator_units": (8, 8), "seed": 1},
        input_data=_binary_images,
    ),
    "keras_vae.models.VAE": (
        Spec(
            "model",
            {"latent_dim": 2, "hidden_units": (8,), "seed": 1},
            input_data=_binary_images,
        ),
        Spec(
            "model",
            {"latent_dim": 2, "hidden_units": (8,), "seed": 1, "prior": _vamp_prior(3)},
            input_data=_binary_images,
        ),
        Spec(
            "model",
            {
                "latent_dim": 2,
                "hidden_units": (8,),
                "seed": 1,
                "constraint": {"class_name": "keras_vae>GECO", "config": {"kappa": 4.0}},
            },
            input_data=_binary_images,
        ),
        # A conditional VAE of p(x | class): int class ids, one-hot inside.
        Spec(
            "model",
            {"latent_dim": 2, "hidden_units": (8,), "seed": 1, "num_classes": 3},
            input_data=_binary_images,
            condition_data=lambda rng: rng.randint(0, 3, size=8).astype("int32"),
        ),
    ),
    "keras_vae.models.VHPVAE": Spec(
        "model",
        {
            "latent_dim": 2,
            "hidden_units": (8,),
            "seed": 1,
            "constraint": {
                "class_name": "keras_vae>GECO",
                # kappa^2 = 25 above the first batch's C (~17 on either
                # backend), so the prior's weights move in the first step.
                "config": {"kappa": 5.0, "damping": 1.0},
            },
            "prior": {
                "class_name": "keras_vae>HierarchicalPrior",
                "config": {"hidden_units": [4], "num_importance_samples": 2, "seed": 1},
            },
        },
        input_data=_binary_images,
    ),
    "keras_vae.models.HierarchicalVAE": (
        Spec(
            "model",
            {"latent_dims": (3, 2), "hidden_units": 8, "seed": 1, "prior": _vamp_prior(3)},
            input_data=_binary_images,
        ),
        Spec(
            "model",
            {
                "latent_dims": (2, 2),
                "hidden_units": 4,
                "architecture": "gated_conv",
                "objective": "iwae",
                "num_importance_samples": 2,
                "seed": 1,
            },
            input_data=_binary_images,
        ),
    ),
    "keras_vae.models.LadderVAE": (
        Spec(
            "model",
            {"latent_dims": (3, 2), "hidden_units": (8, 4), "seed": 1, "free_bits": 0.1},
            input_data=_binary_images,
        ),
        Spec(
            "model",
            {
                "latent_dims": (3, 2),
                "hidden_units": (8, 4),
                "inference": "bottom_up",
                "batch_norm": False,
                "seed": 1,
            },
            input_data=_binary_images,
            note="The paper's plain VAE baseline.",
        ),
        Spec(
            "model",
            {
                "latent_dims": (3, 2, 2),
                "hidden_units": (8, 4, 4),
                "objective": "iwae",
                "num_importance_samples": 2,
                "seed": 1,
            },
            input_data=_binary_images,
        ),
    ),
    "keras_vae.models.VQVAE": (
        Spec(
            "model",
            {
                **_VQVAE_SIZES,
                "num_residual_blocks": 1,
                "num_downsamples": 1,
                "seed": 1,
            },
            input_data=_binary_images,
            note="EMA codebook, squared error, dead-code restarts (the defaults)",
        ),
        Spec(
            "model",
            {
                **_VQVAE_SIZES,
                "num_downsamples": 2,
                "likelihood": "discretized_logistic",
                "quantizer": "vq",
                "kmeans_init": True,
                "seed": 1,
            },
            input_data=_binary_images,
            untrained_weights=("dec_res1_conv3x3", "dec_res1_conv1x1/kernel"),
            note="4x4 inputs give a 1x1 code map; with seed 1 the decoder's "
            "residual ReLU is dead on all 8 examples at init, so its convs "
            "get no gradient in one step",
        ),
    ),
    "keras_vae.models.PixelCNN": Spec(
        "model",
        {"num_embeddings": 5, "code_shape": (3, 3), "filters": 4, "num_layers": 2, "seed": 1},
        input_data=_code_maps,
    ),
    "keras_vae.models.gated_conv_hvae_networks": FUNCTION,
    "keras_vae.models.gated_mlp_decoder": FUNCTION,
    "keras_vae.models.gated_mlp_encoder": FUNCTION,
    "keras_vae.models.gated_mlp_hvae_networks": FUNCTION,
    "keras_vae.models.vq_decoder": FUNCTION,
    "keras_vae.models.vq_encoder": FUNCTION,
    # ------------------------------------------------------------- callbacks
    "keras_vae.callbacks.ActiveUnits": Spec(
        "callback",
        {"x": np.arange(6, dtype="float32").reshape(3, 2), "every": 2, "threshold": 0.1},
    ),
    "keras_vae.callbacks.ELBOSurgery": Spec(
        "callback",
        {"x": np.arange(6, dtype="float32").reshape(3, 2), "every": 2, "seed": 3},
    ),
    "keras_vae.callbacks.ImageGrid": Spec(
        "callback",
        {
            "directory": "grids",
            "x": np.zeros((2, 4), "float32"),
            "num_images": 2,
            "log_dir": "logs",
            "image_shape": (2, 2),
        },
    ),
    "keras_vae.callbacks.LogLikelihood": Spec(
        "callback",
        {"x": np.zeros((3, 2), "float32"), "every": 2, "num_importance_samples": 5, "name": "ll"},
    ),
    "keras_vae.callbacks.KLWarmUp": Spec(
        "callback", {"epochs": 3, "max_value": 0.5, "start_epoch": 1}
    ),
    "keras_vae.callbacks.NonFiniteLossError": _marker("exception"),
    "keras_vae.callbacks.RaiseOnNonFinite": CALLBACK,
    "keras_vae.callbacks.SeedDatasetEpochs": CALLBACK,
    # ----------------------------------------------------------- diagnostics
    "keras_vae.diagnostics.ActiveUnitsResult": DATA_CLASS,
    "keras_vae.diagnostics.CodebookUsageResult": DATA_CLASS,
    "keras_vae.diagnostics.ELBOSurgeryResult": DATA_CLASS,
    "keras_vae.diagnostics.LogLikelihoodResult": DATA_CLASS,
    "keras_vae.diagnostics.active_units": FUNCTION,
    "keras_vae.diagnostics.codebook_usage": FUNCTION,
    "keras_vae.diagnostics.elbo_surgery": FUNCTION,
    "keras_vae.diagnostics.example_rank": FUNCTION,
    "keras_vae.diagnostics.host_batches": FUNCTION,
    "keras_vae.diagnostics.log_likelihood": FUNCTION,
    "keras_vae.diagnostics.DCIResult": DATA_CLASS,
    "keras_vae.diagnostics.FactorVAEScoreResult": DATA_CLASS,
    "keras_vae.diagnostics.MIGResult": DATA_CLASS,
    "keras_vae.diagnostics.SAPResult": DATA_CLASS,
    "keras_vae.diagnostics.dci": FUNCTION,
    "keras_vae.diagnostics.factor_vae_score": FUNCTION,
    "keras_vae.diagnostics.mutual_information_gap": FUNCTION,
    "keras_vae.diagnostics.sap_score": FUNCTION,
    "keras_vae.diagnostics.reconstruction_probability": FUNCTION,
    "keras_vae.diagnostics.KernelDistanceResult": DATA_CLASS,
    "keras_vae.diagnostics.PrecisionRecallResult": DATA_CLASS,
    "keras_vae.diagnostics.SampleQualityResult": DATA_CLASS,
    "keras_vae.diagnostics.extract_features": FUNCTION,
    "keras_vae.diagnostics.frechet_distance": FUNCTION,
    "keras_vae.diagnostics.frechet_distance_from_moments": FUNCTION,
    "keras_vae.diagnostics.kernel_distance": FUNCTION,
    "keras_vae.diagnostics.mnist_feature_extractor": FUNCTION,
    "keras_vae.diagnostics.precision_recall": FUNCTION,
    "keras_vae.diagnostics.sample_quality": FUNCTION,
    # --------------------------------------------------------------- metrics
    # No "metric" kind yet: a keras.metrics.Metric is neither a layer nor a
    # callback. tests/metrics/ checks its value, state aggregation and config.
    "keras_vae.metrics.FrechetDistance": _marker(
        "base_class", "a keras.metrics.Metric; tested in tests/metrics/"
    ),
    "keras_vae.metrics.KernelDistance": _marker(
        "base_class", "a keras.metrics.Metric; tested in tests/metrics/"
    ),
    "keras_vae.metrics.PrecisionRecall": _marker(
        "base_class", "a keras.metrics.Metric; tested in tests/metrics/"
    ),
    # ---------------------------------------------------------------- export
    "keras_vae.export.SIGNATURES": _marker("constant"),
    "keras_vae.export.available_signatures": FUNCTION,
    "keras_vae.export.export_for_serving": FUNCTION,
    # -------------------------------------------------------------- datasets
    "keras_vae.datasets.available": FUNCTION,
    "keras_vae.datasets.load": FUNCTION,
    "keras_vae.datasets.SHAPES_FACTORS": _marker("constant"),
    "keras_vae.datasets.shapes": FUNCTION,
}
"""Public dotted name -> `Spec` (or tuple of `Spec`s) of every public symbol."""


def _binary_vectors(rng):
    return (rng.uniform(size=(8, 12)) < 0.4).astype("float32")


USER_MODELS = {
    # A user's subclass on the public contract: `LatentVariableModel`, fixed
    # `objective` and `metric_names`, its own `get_config`.
    "examples.custom_model.iwae:IWAE": Spec(
        "model",
        {"latent_dim": 2, "hidden_units": (8,), "num_importance_samples": 2, "seed": 1},
        input_data=_binary_vectors,
    ),
    # A conditional user model of p(x | c) (`fit(x, c)`): `num_classes`,
    # its hooks take `condition=c`; c is int class ids, one-hot inside.
    "examples.custom_model.conditional_iwae:ConditionalIWAE": Spec(
        "model",
        {
            "num_classes": 3,
            "latent_dim": 2,
            "hidden_units": (8,),
            "num_importance_samples": 2,
            "seed": 1,
        },
        input_data=_binary_vectors,
        condition_data=lambda rng: rng.randint(0, 3, size=8).astype("int32"),
    ),
}
"""Importable `"package.module:Class"` -> `Spec` (one, kind `"model"`) of a
user's model on the public contract: not a keras_vae symbol, registered
for serialization under its own package, importable by that path (the
`examples.` ones from the repository root). The conformance suite runs its
model checks on these too."""
