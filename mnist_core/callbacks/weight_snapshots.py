"""Keep pictures of the first layer's weights as a model learns: the film of "watch it learn"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..explain import first_layer_images
from .full_epochs import FullEpochCallback

MAX_UNITS = 64  # units or filters kept per snapshot (the first ones): as many as a page shows
MAX_SNAPSHOTS = 33  # before training and 32 more; a longer training thins the older ones out


class WeightSnapshots(FullEpochCallback):
    """Write the run folder's weights.npz (`runs.WeightSnapshots`): the first Dense or Conv2D
    layer's weights as pictures (`explain.first_layer_images`) when training begins (epoch
    0) and after each finished epoch, the whole file rewritten atomically each time.

    Small by design: float16, at most MAX_UNITS units or filters and MAX_SNAPSHOTS snapshots.
    A dense layer on the 784 pixels costs 64 x 28 x 28 x 2 bytes = 98 KiB a snapshot (1.3 MB
    for 12 epochs, 3.2 MB at most); 32 5x5 filters 1.6 KB a snapshot. Beyond MAX_SNAPSHOTS,
    every other snapshot is dropped (never epoch 0 nor the latest), so the film keeps its
    whole length at half the frame rate. The cost is one read of one layer's weights per
    epoch and a write of at most those megabytes.

    An epoch cut short by a stop request gets no snapshot, as it gets no history row. A model
    without such a first layer (one that does not see the picture's pixels directly) gets no
    file, and no error. A write that fails (a full disk) leaves the previous file as it was
    and the training going, the reason in `error`: the film is not worth a run.
    """

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.epochs: list[int] = []
        self.images: list[np.ndarray] = []
        self.layer = self.kind = self.error = None

    def on_train_begin(self, logs=None):
        self._snapshot(0)

    def on_epoch_end(self, epoch, logs=None):
        if not self.epoch_was_full():
            return  # cut short by a stop request
        self._snapshot(epoch + 1)

    def _snapshot(self, epoch: int) -> None:
        first = first_layer_images(self.model)
        if first is None:
            return
        self.layer, self.kind = first.layer, first.kind
        self.epochs.append(epoch)
        self.images.append(np.clip(first.images[:MAX_UNITS], -65504, 65504).astype(np.float16))
        if len(self.epochs) > MAX_SNAPSHOTS:
            keep = [*range(0, len(self.epochs) - 1, 2), len(self.epochs) - 1]
            self.epochs = [self.epochs[i] for i in keep]
            self.images = [self.images[i] for i in keep]
        snapshots = runs.WeightSnapshots(
            self.layer, self.kind, np.asarray(self.epochs), np.stack(self.images)
        )
        try:
            runs.write_weight_snapshots(self.run_dir, snapshots)
        except OSError as exc:
            self.error = f"Could not save the weight snapshots: {exc.strerror or exc}"
