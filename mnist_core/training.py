"""Train a preset into a run directory, reporting progress through listeners.

    run = train(TrainConfig("fast-cnn", epochs=1), listeners=[my_listener], stop=lambda: False)

`train` is the one code path behind `python -m mnist_core train`, the app's worker process
and the tests. It writes everything a watcher needs into the run directory (see `runs`):
progress.json (throttled, per batch), history.csv and a checkpoint of the best weights
(per epoch), run.json (at start and end). A stop request, through `stop()` or a STOP file
in the run directory, ends training after the current batch; the best weights seen so far
are kept and evaluated on the test set.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import atomic, runs
from .data import Mnist, load_mnist, normalise, split_train_val
from .errors import InputError, ModelError, StudioError
from .presets import Preset, get_preset

# Sane bounds for what a user may ask for (the app's sliders use the same numbers).
BOUNDS = {
    "epochs": (1, 200),
    "batch_size": (8, 4096),
    "learning_rate": (1e-5, 1.0),
    "seed": (0, 2**31 - 1),
    "val_fraction": (0.0, 0.5),
    "train_limit": (100, 60000),
    "test_limit": (100, 10000),
}
PROGRESS_INTERVAL_S = 0.5  # progress.json is rewritten at most this often
PREDICT_BATCH = 1024


@dataclass
class TrainConfig:
    """What to train. None means "the preset's default"."""

    preset: str
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    val_fraction: float | None = None
    train_limit: int | None = None  # use only the first N training images (quick runs, tests)
    test_limit: int | None = None  # evaluate on only the first N test images

    def resolve(self) -> dict[str, Any]:
        """The full parameter set with preset defaults filled in; InputError when out of range."""
        preset = get_preset(self.preset)
        params = {
            "epochs": preset.epochs if self.epochs is None else self.epochs,
            "batch_size": preset.batch_size if self.batch_size is None else self.batch_size,
            "learning_rate": preset.learning_rate
            if self.learning_rate is None
            else self.learning_rate,
            "seed": self.seed,
            "val_fraction": preset.val_fraction if self.val_fraction is None else self.val_fraction,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
        }
        for name, value in params.items():
            if value is None:
                continue
            low, high = BOUNDS[name]
            kind = float if name in ("learning_rate", "val_fraction") else int
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not float(value).is_integer())
                or not math.isfinite(value)
            ):
                raise InputError(f"{name} must be a number, got {value!r}")
            if not low <= value <= high:
                raise InputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
            params[name] = kind(value)
        return params


class TrainingListener:
    """Override what you need. Called in the training thread; keep the work small."""

    def on_start(self, run: runs.Run) -> None: ...
    def on_model(self, model: keras.Model) -> None: ...  # once, before the first batch
    def on_batch(self, progress: dict[str, Any]) -> None: ...
    def on_epoch(self, row: dict[str, Any]) -> None: ...
    def on_end(self, run: runs.Run) -> None: ...


class ProgressFileWriter(TrainingListener):
    """Keeps progress.json and history.csv of the run directory current (the app reads them)."""

    def __init__(self, run: runs.Run):
        self.run, self.rows, self.last_write = run, [], 0.0

    def on_batch(self, progress):
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_INTERVAL_S:
            self.last_write = now
            runs.write_progress(self.run.path, progress)

    def on_epoch(self, row):
        self.rows.append(row)
        runs.write_history(self.run.path, self.rows)


# --------------------------------------------------------------------------- building blocks


def make_optimizer(preset: Preset, learning_rate: float, total_steps: int):
    lr: Any = learning_rate
    if preset.schedule == "warmup-cosine":
        warmup = max(1, int(total_steps * preset.warmup_fraction))
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate / 20,
            decay_steps=max(1, total_steps - warmup),
            alpha=0.0,
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    if preset.optimizer == "adam-fast":  # quicker to react: shorter moment memories
        return keras.optimizers.Adam(lr, beta_1=0.7, beta_2=0.9)
    return keras.optimizers.Adam(lr)


def augment_batch(images, seed):
    """Random affine warp of a batch (N, 28, 28, 1): rotation ±10°, zoom ±10%, shift ±2.5 px.

    One combined projective transform per image (one resampling instead of three separate
    Keras layers); stateless random numbers keyed by (seed, batch number) so runs repeat.
    """
    n = tf.shape(images)[0]
    rnd = tf.random.stateless_uniform((n, 4), seed=seed, minval=-1.0, maxval=1.0)
    angle = rnd[:, 0] * (10.0 * math.pi / 180.0)
    scale = 1.0 + rnd[:, 1] * 0.10
    tx, ty = rnd[:, 2] * 2.5, rnd[:, 3] * 2.5
    # Output pixel (x, y) samples input M @ ((x, y) - c - t) + c, M = rotation(-angle) / scale.
    cos, sin, c = tf.cos(angle) / scale, tf.sin(angle) / scale, 13.5
    a0, a1 = cos, sin
    b0, b1 = -sin, cos
    a2 = c - a0 * (c + tx) - a1 * (c + ty)
    b2 = c - b0 * (c + tx) - b1 * (c + ty)
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool, epochs: int
):
    """A seeded tf.data pipeline of (float32 (B, 28, 28, 1) images, labels) batches.

    The shuffling is a numpy permutation per epoch, drawn up front and gathered batch by
    batch: no shuffle buffer to fill (several seconds for 60,000 images on 2 cores).
    Each epoch gives `ceil(len(x) / batch_size)` batches, the last one possibly smaller.
    """
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(len(x)) for _ in range(epochs)]).astype(np.int32)
    images, labels = tf.constant(x), tf.constant(y)

    def load(i, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32)[..., tf.newaxis] / 255.0
        if augment:
            batch = augment_batch(batch, tf.stack([tf.cast(seed, tf.int64), i]))
        return batch, tf.gather(labels, idx)

    ds = (
        tf.data.Dataset.from_tensor_slices(order)
        .flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(epoch).batch(batch_size))
        .enumerate()
    )
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def predict_probabilities(model, x_uint8: np.ndarray) -> np.ndarray:
    """Batched forward pass: uint8 (N, 28, 28) -> float32 (N, 10) probabilities summing to 1."""
    if len(x_uint8) == 0:
        return np.zeros((0, 10), np.float32)
    probs = model.predict(normalise(x_uint8), batch_size=PREDICT_BATCH, verbose=0)
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def loss_and_accuracy(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Sparse categorical cross-entropy (Keras' clipping) and accuracy of (N, 10) probabilities."""
    if len(y) == 0:
        return math.nan, math.nan
    picked = np.clip(probs[np.arange(len(y)), y.astype(np.int64)], 1e-7, 1.0)
    return float(-np.log(picked).mean()), float((probs.argmax(axis=1) == y).mean())


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --------------------------------------------------------------------------- the Keras callback


class _Reporter(keras.callbacks.Callback):
    """Per-batch progress, per-epoch validation and checkpoint, stop checks."""

    def __init__(self, run, listeners, stop, val, steps_per_epoch, epochs):
        super().__init__()
        self.run, self.listeners, self.stop = run, listeners, stop
        self.x_val, self.y_val = val
        self.steps, self.epochs = steps_per_epoch, epochs
        self.stopped = False
        self.best_score, self.best_weights, self.best_epoch = -math.inf, None, 0
        self.rows: list[dict[str, Any]] = []
        self.batches_done = 0
        self.start = self.first_batch_end = self.epoch_start = time.monotonic()
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_start = epoch, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.batches_done += 1
        now = time.monotonic()
        if self.batches_done == 1:
            self.first_batch_end = now  # the first batch includes tracing: not a rate sample
        total = self.steps * self.epochs
        rate = (now - self.first_batch_end) / max(1, self.batches_done - 1)
        progress = {
            "epoch": self.epoch + 1,
            "epochs": self.epochs,
            "batch": batch + 1,
            "batches": self.steps,
            "fraction": self.batches_done / total,
            "loss": _num(logs.get("loss")),
            "accuracy": _num(logs.get("accuracy")),
            "elapsed_s": now - self.start,
            "eta_s": rate * (total - self.batches_done) if self.batches_done > 1 else None,
            "status": "running",
            "updated_at": runs.now_iso(),
        }
        if self.rows:
            progress["val_loss"] = self.rows[-1]["val_loss"]
            progress["val_accuracy"] = self.rows[-1]["val_accuracy"]
        for listener in self.listeners:
            listener.on_batch(progress)
        if self.stop() or runs.stop_requested(self.run.path):
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:  # a partial epoch: no validation pass, no history row
            return
        logs = logs or {}
        val_loss, val_acc = loss_and_accuracy(
            predict_probabilities(self.model, self.x_val), self.y_val
        )
        now = time.monotonic()
        row = {
            "epoch": epoch + 1,
            "loss": _num(logs.get("loss")),
            "accuracy": _num(logs.get("accuracy")),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "learning_rate": self._current_lr(),
            "elapsed_s": now - self.start,
            "epoch_s": now - self.epoch_start,
        }
        self.rows.append(row)
        # Best = highest validation accuracy; without validation, the latest epoch.
        score = val_acc if not math.isnan(val_acc) else epoch
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch + 1
            self.best_weights = self.model.get_weights()
            _save_model(self.model, self.run.model_path)  # survives a kill -9
        for listener in self.listeners:
            listener.on_epoch(row)

    def _current_lr(self) -> float:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (TypeError, ValueError, AttributeError):
            return math.nan


def _num(value) -> float | None:
    return None if value is None else float(value)


def _save_model(model: keras.Model, path: Path) -> None:
    """Save atomically (a failed save leaves the previous file as it was); a full disk or a
    read-only folder raises ModelError("Could not save the model: No space left on device")."""
    try:
        atomic.save_model(model, path)
    except OSError as exc:
        raise ModelError(f"Could not save the model: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    listeners: Iterable[TrainingListener] = (),
    stop: Callable[[], bool] | None = None,
    models_dir: Path | None = None,
    data: Mnist | None = None,
    run_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> runs.Run:
    """Train `config.preset` into a new run directory and return the finished Run.

    The run's status ends as "completed", "stopped" (a stop request; best weights kept) or
    "failed" (the exception is re-raised after run.json records it in one line; a save that
    fails, e.g. on a full disk, is a ModelError and the previous checkpoint stays). Raises
    InputError for out-of-range parameters before anything is written.
    """
    params = config.resolve()
    preset = get_preset(config.preset)
    log = log or (lambda message: None)
    stop = stop or (lambda: False)
    data = data or load_mnist(log=log)

    seed = params["seed"]
    x_all, y_all = data.x_train, data.y_train
    if params["train_limit"]:
        x_all, y_all = x_all[: params["train_limit"]], y_all[: params["train_limit"]]
    x_train, y_train, x_val, y_val = split_train_val(x_all, y_all, params["val_fraction"], seed)
    x_test, y_test = data.x_test, data.y_test
    if params["test_limit"]:
        x_test, y_test = x_test[: params["test_limit"]], y_test[: params["test_limit"]]

    run = runs.create_run(
        preset.name,
        {
            "params": params,
            "seed": seed,
            "description": preset.description,
            "data": {
                "source": data.source,
                "sha256": data.sha256,
                "train_examples": len(x_train),
                "val_examples": len(x_val),
                "test_examples": len(x_test),
            },
            "environment": environment(),
        },
        models_dir=models_dir,
        run_id=run_id,
    )
    listeners = [ProgressFileWriter(run), *listeners]
    log(f"Run directory: {run.path}")
    for listener in listeners:
        listener.on_start(run)

    start = time.monotonic()
    try:
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        steps = math.ceil(len(x_train) / params["batch_size"])
        model = preset.build()
        model.compile(
            optimizer=make_optimizer(preset, params["learning_rate"], steps * params["epochs"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        for listener in listeners:
            listener.on_model(model)
        reporter = _Reporter(run, listeners, stop, (x_val, y_val), steps, params["epochs"])
        dataset = make_dataset(
            x_train, y_train, params["batch_size"], seed, preset.augment, params["epochs"]
        )
        model.fit(
            dataset,
            epochs=params["epochs"],
            steps_per_epoch=steps,
            callbacks=[reporter],
            shuffle=False,
            verbose=0,
        )  # the dataset is already shuffled
        train_seconds = time.monotonic() - start
        if reporter.best_weights is not None:
            model.set_weights(reporter.best_weights)
        _save_model(model, run.model_path)
        test_loss, test_acc = loss_and_accuracy(predict_probabilities(model, x_test), y_test)
        status = "stopped" if reporter.stopped else "completed"
        runs.update_meta(
            run,
            status=status,
            train_seconds=round(train_seconds, 3),
            test_accuracy=test_acc,
            test_loss=test_loss,
            epochs_completed=len(reporter.rows),
            best_epoch=reporter.best_epoch,
            ended_at=runs.now_iso(),
        )
        runs.write_progress(
            run.path,
            {**runs.read_progress(run.path), "status": status, "updated_at": runs.now_iso()},
        )
        log(f"{status}: test accuracy {test_acc:.4f} after {train_seconds:.1f} s of training")
    except BaseException as exc:
        status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        try:
            runs.update_meta(
                run,
                status=status,
                error=" ".join(error.split())[:500],
                train_seconds=round(time.monotonic() - start, 3),
                ended_at=runs.now_iso(),
            )
        except OSError:  # the disk is full even for run.json: once we exit it reads as interrupted
            pass
        raise
    finally:
        (run.path / "STOP").unlink(missing_ok=True)
        for listener in listeners:
            listener.on_end(run)
    return run
