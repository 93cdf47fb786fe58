"""TensorBoard event files in every run folder, so `tensorboard --logdir models/` shows all runs.

Keras' own `keras.callbacks.TensorBoard`, with the learning rate at each logged step (Keras
writes it once an epoch, which hides a warm-up or a one-cycle schedule) and made cheaper (see
RunTensorBoard). A run folder then holds

    <run>/tensorboard/train/events.out.tfevents...       batch_loss, batch_accuracy and
        batch_learning_rate every `step_interval` steps; epoch_loss, epoch_accuracy,
        epoch_learning_rate; each weight's histogram per epoch; the model's graph
    <run>/tensorboard/validation/events.out.tfevents...  epoch_loss, epoch_accuracy

Writing them needs the `tensorboard` package (Keras' summaries are implemented there); where
it is missing, or MNIST_TENSORBOARD=0, a run trains without them and says so in its log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import keras

from .step_history import learning_rate, step_interval

FOLDER = "tensorboard"  # beside run.json; its train/ and validation/ are TensorBoard's runs
ENV_SWITCH = "MNIST_TENSORBOARD"  # "0" turns the event files off


class RunTensorBoard(keras.callbacks.TensorBoard):
    """keras.callbacks.TensorBoard, cheaper and with the learning rate at each logged step.

    * Batch summaries: the learning rate is added to them; on the steps that are not logged
      nothing is called at all (Keras would make every scalar op only to drop it: about a
      millisecond a batch here).
    * Epoch summaries and histograms are always written. With an integer `update_freq`,
      Keras 3.15 leaves its "record every N steps" switch on after the last batch, so an
      epoch whose step count is not a multiple of N wrote no epoch scalars and no histograms.
    * Histograms are built by TensorBoard's own `histogram_pb` from a numpy copy of each
      weight (about 0.05 s for fast-cnn's 14 weights; `tf.summary.histogram`'s first call
      took 0.3 s, which a one-epoch run pays in full).
    * Several fits in a row (an ensemble's networks) log one run: steps and epochs go on.
    * The graph is Keras' conceptual graph of the model (layers and how they connect; the
      Graphs tab, tag "keras"). Keras 3.15's op graph of the training step is never written:
      it looks for a `tf.function` where `model.train_function` is now a plain function.
    """

    def on_train_begin(self, logs=None):
        done = getattr(self, "_global_train_batch", 0)
        super().on_train_begin(logs)
        self._global_train_batch = done  # a later fit (an ensemble's next network) goes on

    def on_train_batch_end(self, batch, logs=None):
        # Keras counts the step in on_train_batch_begin and keeps every update_freq-th.
        if getattr(self, "_global_train_batch", 0) % self.update_freq:
            return
        if isinstance(logs, dict):
            logs = {**logs, "learning_rate": learning_rate(self.model)}
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        with self.summary.record_if(True):
            super().on_epoch_end(epoch, logs)

    def _log_weights(self, epoch):
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb

        with self._train_writer.as_default():
            for layer in self.model.layers:
                for weight in layer.weights:
                    tag = f"{weight.path.replace(':', '_')}/histogram"  # Keras' own tag
                    summary = histogram_pb(tag, keras.ops.convert_to_numpy(weight))
                    self.summary.experimental.write_raw_pb(summary.SerializeToString(), step=epoch)
        self._train_writer.flush()


def enabled() -> bool:
    """True unless MNIST_TENSORBOARD=0 or the tensorboard package is not installed."""
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    try:
        import tensorboard  # noqa: F401  (Keras' summaries live in it)
    except ImportError:
        return False
    return True


def tensorboard_logs(
    run_path: Path, log: Callable[[str], None] | None = None, steps_per_epoch: int | None = None
) -> keras.callbacks.Callback | None:
    """The callback writing `run_path`/tensorboard, or None (logged) when it is turned off.
    `steps_per_epoch` sets how often a per-step point is written (`step_interval`)."""
    if not enabled():
        if log:
            log(f"no TensorBoard files: tensorboard is not installed or {ENV_SWITCH}=0")
        return None
    return RunTensorBoard(
        log_dir=str(Path(run_path) / FOLDER),
        histogram_freq=1,  # every weight's histogram at the end of each epoch
        write_graph=True,
        update_freq=step_interval(steps_per_epoch),
        profile_batch=0,  # no profiler: it costs seconds and writes megabytes
    )
