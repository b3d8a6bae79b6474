"""StepGuard: the step counter and first bad step of one mode."""

import keras
from keras import ops

MODES = ("train", "test", "predict")

# Why a step is bad, as bits of `StepGuard.reason`, in the order of the flags
# `GuardedSteps` records: the batch's (`data_flags`), then the loss's and the
# gradients' (training only).
NON_FINITE_DATA = 1
DATA_BELOW_SUPPORT = 2
DATA_ABOVE_SUPPORT = 4
NON_FINITE_LOSS = 8
NON_FINITE_GRADIENT = 16


class StepGuard:
    """Step counter and first bad step of one mode (train, test or predict).

    Four `keras.Variable`s kept outside the model's weights: they are not
    saved, and `fit`/`evaluate`/`predict` reset them. On TensorFlow they are
    created under the model's strategy and assigned identically by every
    replica (the flags are all-reduced first); on JAX they travel in the
    step's state with the model's non-trainable variables.

    - `step`: steps run since the last reset (the batch index in the epoch);
    - `bad_step`: `step` of the first bad step, -1 while there is none;
    - `reason`: bits of what made it bad (`NON_FINITE_*`, `DATA_*`);
    - `data_range`: min and max of `x` on that step.

    Args:
        mode: `"train"`, `"test"` or `"predict"`, used in the variables' names.
    """

    def __init__(self, mode):
        def variable(name, value, dtype):
            return keras.Variable(
                value,
                dtype=dtype,
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
                synchronization="on_write",
                name=f"{mode}_guard_{name}",
            )

        self.step = variable("step", 0, "int32")
        self.bad_step = variable("bad_step", -1, "int32")
        self.reason = variable("reason", 0, "int32")
        self.data_range = variable("data_range", [0.0, 0.0], "float32")

    @property
    def variables(self):
        return [self.step, self.bad_step, self.reason, self.data_range]

    def reset(self, step=True):
        if step:
            self.step.assign(0)
        self.bad_step.assign(-1)
        self.reason.assign(0)

    def record(self, flags, data_range):
        """Count a step whose flags (`(k,)`, 1.0 where raised, the order of
        the reason bits) and data range are those of every replica; returns
        `(bad, earlier_bad)` as boolean tensors."""
        k = flags.shape[0]
        step, bad_step = self.step.value, self.bad_step.value
        raised = flags > 0.5
        bad = ops.any(raised)
        earlier_bad = bad_step >= 0
        first = ops.logical_and(bad, ops.logical_not(earlier_bad))
        bits = ops.cast(2 ** ops.arange(k), "int32")
        reason = ops.sum(ops.where(raised, bits, ops.zeros_like(bits)))
        self.bad_step.assign(ops.where(first, step, bad_step))
        self.reason.assign(ops.where(first, reason, self.reason.value))
        self.data_range.assign(ops.where(first, data_range, self.data_range.value))
        self.step.assign(step + 1)
        return bad, earlier_bad

    def steps(self):
        """`step` as a Python int."""
        return int(ops.convert_to_numpy(self.step))

    def report(self):
        """`None`, or `(step, reason, (min, max))` of the first bad step."""
        bad_step = int(ops.convert_to_numpy(self.bad_step))
        if bad_step < 0:
            return None
        lo, hi = (float(v) for v in ops.convert_to_numpy(self.data_range))
        return bad_step, int(ops.convert_to_numpy(self.reason)), (lo, hi)
