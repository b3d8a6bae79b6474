"""CompileDefaults: the `compile` defaults of keras_vae models."""

import inspect

import keras


class CompileDefaults:
    """Mixin with the `compile` of keras_vae models, a base of
    `keras_vae.models.Autoencoder`.

    It chooses `jit_compile` and `steps_per_execution` for the model's
    replica count (`num_replicas`, from the backend's
    `keras_vae.trainers.GuardedSteps` class), refuses Keras's loss and
    metric arguments (a model's objective and terms are its loss and
    metrics), and compiles a loaded model as the saved one was.
    """

    # Steps per call of the compiled train function by default: one Python
    # dispatch per step costs a large share of a ~5-10 ms CPU step
    # (benchmarks/RESULTS.md §11).
    default_steps_per_execution = 25

    def compile(
        self, optimizer="rmsprop", *args, steps_per_execution="auto", jit_compile="auto", **kwargs
    ):
        """`keras.Model.compile`, with defaults chosen for these models.

        - `jit_compile="auto"` means XLA (`True`) whenever the model runs on
          one replica, CPU included; Keras's own `"auto"` turns XLA off on
          CPU-only machines, where it is 1.1-1.2x faster for these steps.
          Under a multi-replica strategy it stays off (XLA cannot read
          variables mirrored over logical devices).
        - `steps_per_execution="auto"` means `default_steps_per_execution`
          (25) steps per call on one replica, 1 under a multi-replica
          strategy (keras-team/keras#19246). Callbacks then see batch ends
          every 25 steps; epoch-level callbacks are unaffected, and the
          non-finite guard still stops at the first bad step.

        Pass explicit values to override either.

        `loss`, `loss_weights`, `metrics` and `weighted_metrics` are refused
        (a `ValueError`): the loss is the model's objective (the batch mean
        of its negative ELBO or bound, `compute_loss`) and the metrics are
        its terms (`metric_names`); Keras would otherwise ignore them
        silently.
        """
        refused = inspect.signature(keras.Model.compile).bind(None, optimizer, *args, **kwargs)
        _check_no_compile_loss(refused.arguments)
        single = self.num_replicas == 1
        run_eagerly = kwargs.get("run_eagerly", False)
        if jit_compile == "auto":
            jit_compile = single and not run_eagerly
        if steps_per_execution == "auto":
            steps_per_execution = self.default_steps_per_execution if single else 1
        super().compile(
            optimizer,
            *args,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
            **kwargs,
        )

    def compile_from_config(self, config):
        """Compile from `get_compile_config()` when a saved model is loaded.

        Keras skips this step for models that override `compile` unless
        they override it too; the config holds the resolved values, so the
        loaded model compiles as the saved one was. A `loss` or `metrics`
        saved by an older keras_vae, which accepted and ignored them, is
        dropped.
        """
        config = keras.saving.deserialize_keras_object(config)
        config = {k: v for k, v in config.items() if k not in _COMPILE_LOSS_ARGUMENTS}
        self.compile(**config)
        if self.built:  # create the optimizer's variables, restored next
            self.optimizer.build(self.trainable_variables)


# `compile` arguments of Keras's loss and metric containers, which keras_vae
# models do not use (their objective and terms are the loss and metrics).
_COMPILE_LOSS_ARGUMENTS = ("loss", "loss_weights", "metrics", "weighted_metrics")


def _check_no_compile_loss(arguments):
    for name in _COMPILE_LOSS_ARGUMENTS:
        value = arguments.get(name)
        if value is None:
            continue
        if name.startswith("loss"):
            where = (
                "the loss of a keras_vae model is its own objective, the batch "
                "mean of the negative ELBO (or IWAE bound) from `compute_terms`, "
                "returned by `compute_loss`; to add a term, subclass the model "
                "and override `compute_loss`"
            )
        else:
            where = (
                "the metrics of a keras_vae model are the terms of its objective "
                "(`loss`, `elbo`, `kl`, ... see `model.metrics_names`), computed "
                "by `compute_terms`; to track another quantity, override "
                "`compute_metrics` or use a callback"
            )
        raise ValueError(
            f"Expected `{name}=None` in `compile`: {where}. Received: {name}={value!r}"
        )
