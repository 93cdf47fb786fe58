"""Train a preset, or any network spec, into a run directory, with plain Keras callbacks.

    run = train(TrainConfig("fast-cnn", epochs=1), callbacks=[my_keras_callback])

Two steps, so that a server can queue a request before any training starts:
`prepare_run(config)` checks the request and creates the run directory (status "queued",
the resolved `RunParams` in run.json); `train_run(run_dir)` trains into it, in this process
or in a worker (`python -m mnist_core train --run-dir DIR`). `train` does both. Each concern
of a training is one Keras callback (`mnist_core.callbacks`): progress.json and history.csv,
the atomic best checkpoint, snapshots of the first layer's weights (weights.npz), the stop
request. Validation runs inside `fit`; the final test score is `evaluation.score`, the one
way every part of the project scores a model.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import fine_tune, recipe, robustness, runs
from .callbacks import (
    AtomicBestCheckpoint,
    ProgressFile,
    StepHistory,
    StopOnRequest,
    WeightSnapshots,
)
from .callbacks.atomic_checkpoint import save
from .callbacks.tensorboard_logs import tensorboard_logs
from .config import BOUNDS, TrainConfig, prepare_run, spec_of  # noqa: F401  (this module's API)
from .data import Mnist, load_mnist, normalise, split_train_val
from .errors import InputError, StudioError
from .evaluation import score
from .keras_model import save_tflite
from .recipe import make_optimizer  # noqa: F401  (part of this module's API)
from .specs import build_model, ensemble

# --------------------------------------------------------------------------- building blocks


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
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    augment: bool,
    epochs: int,
    one_hot: bool = False,
):
    """A seeded tf.data pipeline of (float32 (B, 28, 28, 1) images, labels) batches.

    The shuffling is a numpy permutation per epoch, drawn up front and gathered batch by
    batch: no shuffle buffer to fill (several seconds for 60,000 images on 2 cores).
    Each epoch gives `ceil(len(x) / batch_size)` batches, the last one possibly smaller.
    Labels are int (B,), or float32 (B, 10) when `one_hot` (for label smoothing).
    """
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(len(x)) for _ in range(epochs)]).astype(np.int32)
    images, labels = tf.constant(x), tf.constant(y)

    def load(i, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32)[..., tf.newaxis] / 255.0
        if augment:
            batch = augment_batch(batch, tf.stack([tf.cast(seed, tf.int64), i]))
        batch_labels = tf.gather(labels, idx)
        return batch, tf.one_hot(batch_labels, 10) if one_hot else batch_labels

    ds = (
        tf.data.Dataset.from_tensor_slices(order)
        .flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(epoch).batch(batch_size))
        .enumerate()
    )
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def fit_labels(labels: np.ndarray, one_hot: bool) -> np.ndarray:
    """Labels (N,) as `fit` takes them: float32 one-hot rows (N, 10) for label smoothing."""
    return np.eye(10, dtype=np.float32)[labels] if one_hot else labels


def build_for_fit(model, images: np.ndarray, labels: np.ndarray) -> None:
    """Create a compiled model's optimizer and metric variables before `fit`, from one batch of
    (float32 images, labels as `fit` gets them); the metrics are then reset.

    Keras' TensorFlow trainer (no distribution strategy) creates them inside the first trace
    of its train step; tf.function then traces the step a second time, now without creating
    them. That second trace is a fixed cost of every training, 0.6 s of a 4 s fast-cnn run
    on 2 cores (measured 2026-11-29): a tenth of the quickest preset's time, for nothing.
    """
    model.optimizer.build(model.trainable_variables)
    model.compute_metrics(images, labels, model(images, training=False), sample_weight=None)
    model.reset_metrics()


def network_count(meta: runs.RunMeta) -> int:
    """How many networks a run trains one after another: its spec's `members`; one when it is
    fine-tuned (it goes on from one trained model, an ensemble or not)."""
    return 1 if meta.fine_tuned is not None else spec_of(meta).members


def member_path(run: runs.Run, k: int) -> Path:
    """Where network k (from 0) of an ensemble keeps its best checkpoint while it trains; the
    first network's is the run's model.keras, the others' are removed when training ends."""
    return run.path / f"network-{k + 1}.keras"


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


# A temperature is fitted only from a validation set the model misreads at least this often:
# with none or a few misread, the likelihood keeps rising as T falls, and the fit would
# make every answer "100%" (the shipped model misreads 9 of its 3,000).
MIN_VALIDATION_ERRORS = 5


def validation_temperature(predictor, x_val: np.ndarray, y_val: np.ndarray) -> float | None:
    """The softmax temperature that calibrates the model's confidence, fitted on the run's
    validation images (uint8 (N, 28, 28), labels (N,)): never on the test images it is
    judged by. None (the model's own probabilities are used) without enough of them."""
    from .digit_check import fit_temperature

    if len(x_val) == 0:
        return None
    probabilities = predictor.predict_batch(normalise(x_val))
    if (probabilities.argmax(axis=1) != y_val).sum() < MIN_VALIDATION_ERRORS:
        return None
    return fit_temperature(probabilities, y_val)


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    stop: Callable[[], bool] | None = None,
    models_dir: Path | None = None,
    data: Mnist | None = None,
    run_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> runs.Run:
    """`prepare_run` then `train_run`: train `config` into a new run directory."""
    run = prepare_run(config, models_dir, run_id)
    return train_run(run.path, callbacks, stop=stop, data=data, log=log)


def train_run(
    run_dir: Path,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    stop: Callable[[], bool] | None = None,
    data: Mnist | None = None,
    log: Callable[[str], None] | None = None,
) -> runs.Run:
    """Train the run that `run_dir`'s run.json describes (status "queued" or "starting").

    The status ends as "completed", "stopped" (a stop request during training: the best
    weights so far are kept and scored), "cancelled" (a stop request before the first
    batch: nothing trained) or "failed" (the exception is re-raised after run.json records
    it in one line; a save that fails, e.g. on a full disk, is a ModelError and the previous
    checkpoint stays). `callbacks` are passed to `fit` after the project's own.

    An ensemble (`spec.members` > 1) trains its networks one after another, network k from
    seed + k (its start, its order of images, its changed copies) on the same held-back
    images, each a `fit` of its own whose epochs go on from the last one's (so the callbacks
    see epochs 1 to members x epochs); then saves their average (`specs.ensemble`). A stop
    keeps the networks that finished (the first one always, stopped or not).
    """
    log = log or (lambda message: None)
    run = runs.read_run(run_dir)
    if run.error:
        raise InputError(f"Cannot train {run.id}: {run.error}")
    if run.meta.status not in ("queued", "starting") or run.meta.params is None:
        raise InputError(f"Run {run.id!r} is {run.meta.status}: only a queued run can be trained")
    params, spec = run.meta.params, spec_of(run.meta)
    runs.update_meta(run, status="running", pid=os.getpid(), started_at=runs.now_iso())
    log(f"Run directory: {run.path}")
    stopper = StopOnRequest(run.path, stop)
    start = time.monotonic()
    try:
        data = data or load_mnist(log=log)
        x_all, y_all = data.x_train, data.y_train
        if params.train_limit:
            x_all, y_all = x_all[: params.train_limit], y_all[: params.train_limit]
        x_train, y_train, x_val, y_val = split_train_val(
            x_all, y_all, params.val_fraction, params.seed
        )
        x_test, y_test = data.x_test[: params.test_limit], data.y_test[: params.test_limit]
        tuned = run.meta.fine_tuned is not None  # MNIST plus your digits, from a trained model
        if tuned:
            x_train, y_train = fine_tune.training_set(run, x_train, y_train)
        clean = x_train, y_train
        if spec.corrupted_share:  # rotated, grainy, crossed-out... copies (robustness view)
            x_train, y_train = robustness.corrupted_copies(
                *clean, spec.corrupted_share, params.seed
            )
        runs.update_meta(
            run,
            data={
                "source": data.source,
                "sha256": data.sha256,
                "train_examples": len(x_train),
                "val_examples": len(x_val),
                "test_examples": len(x_test),
            },
            environment=environment(),
        )
        if stopper.requested():  # stopped while loading: nothing to train or keep
            runs.update_meta(run, status="cancelled", ended_at=runs.now_iso())
            log("cancelled before training began")
            return run

        tf.config.experimental.enable_op_determinism()
        one_hot = recipe.one_hot_labels(spec)
        validation = (normalise(x_val), fit_labels(y_val, one_hot)) if len(x_val) else None
        steps = math.ceil(len(x_train) / params.batch_size)
        count = network_count(run.meta)
        # One progress, one step history, one TensorBoard log over all the networks: their
        # epochs are numbered on (network 2 of 2 trains epochs 13 to 24 of 24).
        progress = ProgressFile(run.path, epochs=params.epochs * count)
        board = tensorboard_logs(run.path, log, steps)  # None: turned off or not installed
        shared = [progress, StepHistory(run.path), *([board] if board else [])]
        callbacks = list(callbacks)
        kept: list = []
        start = time.monotonic()
        for k in range(count):
            seed = params.seed + k  # each network its own start, order and changed copies
            if k and spec.corrupted_share:
                x_train, y_train = robustness.corrupted_copies(*clean, spec.corrupted_share, seed)
            keras.utils.set_random_seed(seed)
            model = fine_tune.start_model(run) if tuned else build_model(spec)
            model.compile(
                optimizer=recipe.make_optimizer(spec, params.learning_rate, steps * params.epochs),
                loss=recipe.loss(spec),
                metrics=["accuracy"],
            )
            build_for_fit(model, normalise(x_train[:1]), fit_labels(y_train[:1], one_hot))
            # The first network's best checkpoint is the run's model until the ensemble is
            # whole: a run killed later keeps a finished network.
            checkpoint = AtomicBestCheckpoint(run.model_path if k == 0 else member_path(run, k))
            dataset = make_dataset(
                x_train, y_train, params.batch_size, seed, spec.augment, params.epochs, one_hot
            )
            model.fit(
                dataset,
                epochs=params.epochs * (k + 1),
                initial_epoch=params.epochs * k,
                steps_per_epoch=steps,
                validation_data=validation,
                # Saved before recorded; the stop request checked last, after every other
                # callback has seen the batch (a request made there stops before the next).
                callbacks=[
                    checkpoint,
                    *shared,
                    *([WeightSnapshots(run.path)] if k == 0 else []),  # the first network's film
                    *recipe.callbacks(spec, validation is not None),
                    *callbacks,
                    stopper,
                ],
                shuffle=False,  # the dataset is already shuffled
                verbose=0,
            )
            if k == 0 or not stopper.stopped:  # a network stopped half-way joins no ensemble
                kept.append(model)
            if stopper.stopped:
                break
        train_seconds = time.monotonic() - start
        model = ensemble(kept) if len(kept) > 1 else kept[0]
        save(model, run.model_path)  # the best weights, restored by the checkpoints
        if len(kept) < count:  # stopped: run.json's spec says what was kept
            runs.update_meta(run, spec=spec.replace(members=len(kept)).to_dict())
        save_tflite(model, run.model_path)  # after it: model.tflite, what prediction runs
        from .inference import Predictor

        predictor = Predictor(model, engine="tensorflow")
        result = score(predictor, x_test, y_test)
        status = "stopped" if stopper.stopped else "completed"
        runs.update_meta(
            run,
            status=status,
            train_seconds=round(train_seconds, 3),
            test_accuracy=result.accuracy,
            test_loss=result.loss,
            epochs_completed=len(progress.rows),
            best_epoch=checkpoint.best_epoch if len(kept) == 1 else None,  # one per network
            temperature=validation_temperature(predictor, x_val, y_val),
            ended_at=runs.now_iso(),
        )
        runs.write_progress(
            run.path, {**progress.latest, "status": status, "updated_at": runs.now_iso()}
        )
        log(
            f"{status}: test accuracy {result.accuracy:.4f} after {train_seconds:.1f} s of training"
        )
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
        for extra in run.path.glob("network-*.keras"):  # a failed ensemble's later networks
            extra.unlink(missing_ok=True)
    return run
