"""Stop a training after the current batch when someone asks (the Stop button, a signal)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras

from .. import runs


class StopOnRequest(keras.callbacks.Callback):
    """Sets `model.stop_training` after a batch once the run directory holds a STOP file
    (`runs.request_stop`) or `stop()` returns True; `stopped` then says so.

    Keras checks `stop_training` after every batch, so the batch under way finishes and the
    weights stay consistent; no batch starts after the request.
    """

    def __init__(self, run_dir: Path, stop: Callable[[], bool] | None = None):
        super().__init__()
        self.run_dir, self.stop = Path(run_dir), stop or (lambda: False)
        self.stopped = False

    def requested(self) -> bool:
        return self.stop() or runs.stop_requested(self.run_dir)

    def on_train_batch_end(self, batch, logs=None):
        if self.requested():
            self.stopped = True
            self.model.stop_training = True
