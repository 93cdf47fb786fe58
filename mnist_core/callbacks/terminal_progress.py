"""A progress bar for a training in a terminal, on stderr (stdout is for results)."""

from __future__ import annotations

import contextlib
import sys

import keras


class TerminalProgress(keras.callbacks.Callback):
    """Keras' own `Progbar`, one bar per epoch, written to `stream` (default stderr).

    `keras.utils.Progbar` writes to `sys.stdout`; it is pointed at `stream` for each update,
    so that `mnist-studio train ... > run.txt` captures the run folder only. `verbose=2`
    prints one line per epoch instead of a bar (for logs, and the app's worker).
    """

    def __init__(self, verbose: int = 1, stream=None, epochs: int | None = None):
        super().__init__()
        self.verbose, self.stream = verbose, stream
        self.epochs = epochs  # of the whole training, when it spans several fits (an ensemble)
        self.bar: keras.utils.Progbar | None = None

    def _write(self):
        return contextlib.redirect_stdout(self.stream or sys.stderr)

    def on_epoch_begin(self, epoch, logs=None):
        with self._write():  # (the bar draws in place only when `stream` is a terminal)
            print(f"Epoch {epoch + 1}/{self.epochs or self.params['epochs']}")
            # Keras' logs are running means already: shown as they are, not averaged again.
            self.bar = keras.utils.Progbar(
                self.params["steps"], verbose=self.verbose, stateful_metrics=STATEFUL
            )
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.verbose == 1:
            with self._write():
                self.bar.update(self.seen, values=_values(logs))

    def on_epoch_end(self, epoch, logs=None):
        with self._write():
            self.bar.update(self.seen, values=_values(logs), finalize=True)


STATEFUL = ("loss", "accuracy", "val_loss", "val_accuracy")


def _values(logs) -> list[tuple[str, float]]:
    return [(k, float(v)) for k, v in (logs or {}).items() if k in STATEFUL]
