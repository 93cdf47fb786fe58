"""Keep a run directory's steps.csv: the training loss, accuracy and learning rate every few
steps, so even a one-epoch run draws a learning curve (history.csv has one row an epoch)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras

from .. import runs

STEP_EVERY = 25  # a point every 25 steps at most (fewer in a short epoch: ten points an epoch)
WRITE_INTERVAL_S = 1.0  # steps.csv is rewritten at most this often, and when training ends


def step_interval(steps_per_epoch: int | None) -> int:
    """Steps between per-step points: STEP_EVERY, or fewer so that an epoch has ten points
    (a short run still draws a curve). steps.csv and the TensorBoard files both keep these."""
    steps = steps_per_epoch or STEP_EVERY * 10
    return max(1, min(STEP_EVERY, steps // 10))


def learning_rate(model) -> float:
    """The learning rate `model`'s optimizer steps with now (its schedule's value at this
    step); NaN when there is none to read."""
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return math.nan


class StepHistory(keras.callbacks.Callback):
    """steps.csv, one row per `every` batches (`runs.STEP_COLUMNS`): the step (batches done
    since the start), the epoch as a fraction (1.5: half-way through the second), the mean
    loss and accuracy over the batches since the previous row, and the learning rate then.

    Keras' batch logs are running means since the start of the epoch; the mean over a window
    of batches follows from two of them: (n2 * m2 - n1 * m1) / (n2 - n1).
    """

    def __init__(self, run_dir: Path, every: int | None = None):
        super().__init__()
        self.run_dir, self.every = Path(run_dir), every
        self.rows: list[dict] = []
        self.step = self.epoch = self.in_epoch = self.mark = 0
        self.sums = {"loss": 0.0, "accuracy": 0.0}  # n * running mean at the previous row
        self.last_write = 0.0

    def on_train_begin(self, logs=None):
        self.every = self.every or step_interval(self.params.get("steps"))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.in_epoch, self.mark = epoch, 0, 0
        self.sums = {"loss": 0.0, "accuracy": 0.0}

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.in_epoch += 1
        steps = self.params.get("steps")
        if self.in_epoch % self.every and self.in_epoch != steps:
            return
        logs, row = logs or {}, {"step": self.step}
        row["epoch"] = self.epoch + (self.in_epoch / steps if steps else 1.0)
        for name in ("loss", "accuracy"):
            value = logs.get(name)
            if value is None:
                row[name] = math.nan
                continue
            total = self.in_epoch * float(value)
            mean = (total - self.sums[name]) / (self.in_epoch - self.mark)
            # The running means are float32: the difference can stray past 0 or 1 by 1e-7.
            row[name] = round(min(max(mean, 0.0), 1.0) if name == "accuracy" else mean, 6)
            self.sums[name] = total
        self.mark = self.in_epoch
        row["learning_rate"] = learning_rate(self.model)
        self.rows.append(row)
        now = time.monotonic()
        if now - self.last_write >= WRITE_INTERVAL_S:
            self.last_write = now
            runs.write_steps(self.run_dir, self.rows)

    def on_train_end(self, logs=None):
        runs.write_steps(self.run_dir, self.rows)
