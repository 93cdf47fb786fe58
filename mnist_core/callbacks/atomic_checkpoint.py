"""Keep the best weights of a training, on disk and in memory, safe against `kill -9`."""

from __future__ import annotations

import math
from pathlib import Path

import keras

from .. import atomic
from ..errors import ModelError
from .full_epochs import FullEpochCallback


class AtomicBestCheckpoint(FullEpochCallback):
    """After each finished epoch whose `monitor` (default "val_accuracy") beats every earlier
    one, save the model to `path` and keep its weights; at the end of training, put the best
    weights back into the model (`restore_best`). Without the monitored value (no validation
    set), every finished epoch counts as the best so far.

    Keras' own `ModelCheckpoint` writes `path` in place: a process killed during the save
    leaves a truncated zip that looks like a model. Here the model goes to a temporary file
    beside `path` and is renamed over it (`atomic.save_model`), so `path` is always a whole
    model. An epoch cut short by a stop request (fewer batches than `params["steps"]`) is not
    a finished epoch and is never saved. A failed save (a full disk, a read-only folder)
    raises ModelError with one line and leaves the previous file as it was.
    """

    def __init__(self, path: Path, monitor: str = "val_accuracy", restore_best: bool = True):
        super().__init__()
        self.path, self.monitor, self.restore_best = Path(path), monitor, restore_best
        self.best, self.best_epoch, self.best_weights = -math.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        if not self.epoch_was_full():
            return  # cut short by a stop request
        value = (logs or {}).get(self.monitor)
        score = float(value) if value is not None and math.isfinite(value) else epoch
        if score > self.best:
            self.best, self.best_epoch = score, epoch + 1
            self.best_weights = self.model.get_weights()
            save(self.model, self.path)

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def save(model: keras.Model, path: Path) -> None:
    """Save atomically; a full disk or a read-only folder raises
    ModelError("Could not save the model: No space left on device")."""
    try:
        atomic.save_model(model, path)
    except OSError as exc:
        raise ModelError(f"Could not save the model: {exc.strerror or exc}") from exc
