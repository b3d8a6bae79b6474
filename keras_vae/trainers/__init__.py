"""The training machinery of keras_vae models, one class per backend.

`GuardedSteps` holds what every backend shares; `TensorFlowGuardedSteps` and
`JAXGuardedSteps` hold the train/test/predict steps, and `BackendGuardedSteps`
is the one of the running Keras backend (the base of
`keras_vae.models.Autoencoder`), as Keras picks its own `Trainer`;
`compile_function(model, fn)` and `replicas_in_step()` are that backend's.
Two more bases of `Autoencoder`, shared by every backend, adapt a user's calls:
`fit_arguments.FitArguments` (`fit`, `evaluate`, `predict`, `*_on_batch`: the
data checked, the guard's callbacks) and `compile_defaults.CompileDefaults`.
"""

import keras

from keras_vae.trainers.guarded_steps import GuardedSteps
from keras_vae.trainers.step_guard import StepGuard
from keras_vae.trainers.true_batch_callback_list import TrueBatchCallbackList

if keras.backend.backend() == "jax":
    from keras_vae.trainers.jax_guarded_steps import JAXGuardedSteps as BackendGuardedSteps
    from keras_vae.trainers.jax_guarded_steps import compile_function
    from keras_vae.trainers.jax_guarded_steps import replicas_in_step
else:  # `keras_vae` refuses other backends on import
    from keras_vae.trainers.tensorflow_guarded_steps import (
        TensorFlowGuardedSteps as BackendGuardedSteps,
    )
    from keras_vae.trainers.tensorflow_guarded_steps import compile_function
    from keras_vae.trainers.tensorflow_guarded_steps import replicas_in_step

__all__ = [
    "BackendGuardedSteps",
    "GuardedSteps",
    "StepGuard",
    "TrueBatchCallbackList",
    "compile_function",
    "replicas_in_step",
]
