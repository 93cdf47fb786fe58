"""FullEpochCallback: a base for callbacks that act only on epochs that ran all their steps."""

from __future__ import annotations

import keras


class FullEpochCallback(keras.callbacks.Callback):
    """Counts the batches of each epoch, so `epoch_was_full()` can tell in `on_epoch_end`
    whether the epoch ran all `params["steps"]`: a stop request ends one early, and Keras
    still calls `on_epoch_end` for it (with logs of the part that ran)."""

    def __init__(self):
        super().__init__()
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1

    def epoch_was_full(self) -> bool:
        steps = self.params.get("steps")
        return not steps or self._batches >= steps
