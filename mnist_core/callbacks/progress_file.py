"""Keep a run directory's progress.json and history.csv current while a model trains."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from .. import runs
from .step_history import learning_rate

PROGRESS_INTERVAL_S = 0.5  # progress.json is rewritten at most this often (and at each epoch end)


class ProgressFile(keras.callbacks.Callback):
    """What a watcher (the Train page, another process) reads about a running training.

    progress.json, per batch (throttled): epoch and epochs, batch and batches, fraction of
    all batches done, the running loss and accuracy, the last epoch's validation figures,
    elapsed seconds and an estimate of the seconds left (None until a second batch has
    timed the pace: the first includes tracing).
    history.csv, per finished epoch: the row `runs.HISTORY_COLUMNS` names, `fit`'s
    validation figures included. An epoch cut short by a stop request gets no row.
    One instance may follow several fits, each going on from the last one's epochs (Keras'
    `initial_epoch`), `epochs` being the epochs of them all: an ensemble's networks.
    """

    def __init__(self, run_dir: Path, epochs: int | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.epochs = epochs  # of the whole training, when it spans several fits (an ensemble)
        self.rows: list[dict] = []
        self.latest: dict = {}  # the last progress written or not
        self.done = self.epoch = self.in_epoch = 0
        self.start = self.epoch_start = self.first_batch_end = self.last_write = 0.0

    def on_train_begin(self, logs=None):
        self.start = self.start or time.monotonic()  # a later fit goes on with the same clock

    @property
    def total_epochs(self) -> int:
        return self.epochs or self.params["epochs"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.in_epoch, self.epoch_start = epoch, 0, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.done += 1
        self.in_epoch += 1
        now = time.monotonic()
        if self.done == 1:
            self.first_batch_end = now
        total = self.params["steps"] * self.total_epochs
        pace = (now - self.first_batch_end) / max(1, self.done - 1)
        last = self.rows[-1] if self.rows else {}
        progress = {
            "epoch": self.epoch + 1,
            "epochs": self.total_epochs,
            "batch": batch + 1,
            "batches": self.params["steps"],
            "fraction": self.done / total,
            "loss": _number(logs.get("loss")),
            "accuracy": _number(logs.get("accuracy")),
            "val_loss": last.get("val_loss"),
            "val_accuracy": last.get("val_accuracy"),
            "elapsed_s": now - self.start,
            "eta_s": pace * (total - self.done) if self.done > 1 else None,
            "status": "running",
            "updated_at": runs.now_iso(),
        }
        self.latest = progress
        if now - self.last_write >= PROGRESS_INTERVAL_S or self.done == total:
            self.last_write = now
            runs.write_progress(self.run_dir, progress)

    def on_epoch_end(self, epoch, logs=None):
        if self.in_epoch < self.params["steps"]:
            return  # cut short by a stop request
        logs = logs or {}
        now = time.monotonic()
        self.rows.append(
            {
                "epoch": epoch + 1,
                "loss": _number(logs.get("loss")),
                "accuracy": _number(logs.get("accuracy")),
                "val_loss": _number(logs.get("val_loss")),
                "val_accuracy": _number(logs.get("val_accuracy")),
                "learning_rate": learning_rate(self.model),
                "elapsed_s": now - self.start,
                "epoch_s": now - self.epoch_start,
            }
        )
        runs.write_history(self.run_dir, self.rows)


def _number(value) -> float | None:
    return None if value is None else float(value)
