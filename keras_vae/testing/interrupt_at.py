"""`InterruptAt`: a callback that stops `fit` as a killed job would."""

import keras


class Interrupted(RuntimeError):
    """Raised by `InterruptAt`: the simulated crash, not a real failure."""


class InterruptAt(keras.callbacks.Callback):
    """Raises `Interrupted` at the start of epoch `epoch` (0-based).

    For tests of resumable training: `fit` with
    `keras.callbacks.BackupAndRestore` and this callback dies like a
    pre-empted job, leaving the backup of the last finished epoch; a second
    `fit` with the same backup directory (and without this callback)
    resumes from it.

    Args:
        epoch: the 0-based epoch at whose start to raise.

    Example:

    >>> from keras_vae.testing.interrupt_at import InterruptAt, Interrupted
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.zeros((4, 1), "float32")
    >>> try:
    ...     model.fit(x, x, epochs=3, callbacks=[InterruptAt(1)], verbose=0)
    ... except Interrupted as error:
    ...     print(error)
    interrupted at epoch 1
    """

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupted(f"interrupted at epoch {epoch}")
