"""Plain Keras callbacks, one job each, in the style of `keras/src/callbacks/`.

`training.train` passes AtomicBestCheckpoint, ProgressFile, StepHistory, WeightSnapshots, the
TensorBoard writer of `tensorboard_logs` and StopOnRequest
to `model.fit`; the command line adds TerminalProgress; callers (tests, benchmarks) add their
own `keras.callbacks.Callback`s beside them.
"""

from .atomic_checkpoint import AtomicBestCheckpoint
from .progress_file import ProgressFile
from .step_history import StepHistory
from .stop_request import StopOnRequest
from .terminal_progress import TerminalProgress
from .weight_snapshots import WeightSnapshots

__all__ = [
    "AtomicBestCheckpoint",
    "ProgressFile",
    "StepHistory",
    "StopOnRequest",
    "TerminalProgress",
    "WeightSnapshots",
]
