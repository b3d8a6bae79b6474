"""EpochTimer: wall and process-CPU seconds of every epoch of `fit`.

Shared by the benchmark workers. Import it inside a worker, not at the top
of a driver script: it imports Keras (and so TensorFlow), whose thread pools
would slow the fresh processes the driver starts.
"""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records `(wall seconds, CPU seconds)` of each epoch in `self.times`.

    CPU seconds are the process's (`time.process_time`), so CPU / wall is
    how many cores the epoch kept busy.
    """

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = time.perf_counter(), time.process_time()
        self.times.append((wall - self.start[0], cpu - self.start[1]))
