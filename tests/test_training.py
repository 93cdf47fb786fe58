"""mnist_core.training: a run end to end on a small slice, stop requests, failures, repeatability,
and the faults a run must survive (a full disk, kill -9)."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_core import evaluation, inference, presets, runs, specs, training
from mnist_core.errors import InputError, ModelError
from mnist_core.training import TrainConfig, prepare_run, train, train_run

SMALL = dict(train_limit=600, test_limit=300)
ROOT = Path(__file__).resolve().parent.parent


class Recorder(keras.callbacks.Callback):
    """A caller's own Keras callback beside the project's: records what a watcher can read
    (progress.json after every batch, the history rows) and can ask to stop."""

    def __init__(self, run_dir: Path | None = None, stop_after_batches: int | None = None):
        super().__init__()
        self.run_dir, self.stop_after = run_dir, stop_after_batches
        self.batches, self.epochs, self.began, self.ended = [], [], False, False

    def on_train_begin(self, logs=None):
        self.began = True

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch + 1, **(logs or {})})

    def on_train_end(self, logs=None):
        self.ended = True

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.batches) >= self.stop_after


TINY_CNN = [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu"}]


@pytest.fixture
def tiny_cnn_preset(monkeypatch):
    """A tiny CNN using augmentation and the warm-up + cosine schedule (the best-cnn code path)."""
    spec = presets.PRESETS["best-cnn"].spec.replace(layers=TINY_CNN, epochs=2, batch_size=64)
    preset = dataclasses.replace(presets.PRESETS["best-cnn"], name="tiny-cnn", spec=spec)
    monkeypatch.setitem(presets.PRESETS, "tiny-cnn", preset)
    return preset


def test_run_end_to_end_writes_a_complete_run_directory(tmp_path, mnist):
    recorder = Recorder()
    run = prepare_run(
        TrainConfig("seed-mlp-dropout", epochs=2, val_fraction=0.1, seed=3, **SMALL), tmp_path
    )
    assert run.status == "queued" and run.meta.params.epochs == 2  # nothing trained yet
    assert runs.read_run(run.path).meta.params.batch_size == 32  # the preset's, resolved
    run = train_run(run.path, callbacks=[recorder], data=mnist)
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "completed" and run.status == "completed"
    assert meta["preset"] == "seed-mlp-dropout" and meta["params"]["seed"] == 3
    assert meta["params"]["epochs"] == 2 and meta["params"]["batch_size"] == 32
    assert 0.0 <= meta["test_accuracy"] <= 1.0 and meta["train_seconds"] > 0
    assert meta["data"]["sha256"]["x_train"].startswith("ba891046")
    assert meta["data"]["train_examples"] == 540 and meta["data"]["test_examples"] == 300
    assert meta["environment"]["tensorflow"] and meta["environment"]["keras"].startswith("3.")
    assert meta["created_at"] <= meta["started_at"] <= meta["ended_at"]
    # 540 images in batches of 32 -> 17 batches per epoch; the caller's callback sees each.
    assert len(recorder.batches) == 34 and recorder.began and recorder.ended
    progress = runs.read_progress(run.path)
    assert progress["fraction"] == 1.0 and progress["eta_s"] == 0
    assert progress["status"] == "completed" and progress["batches"] == 17
    history = runs.read_history(run.path)
    assert [row["epoch"] for row in history] == [1, 2]
    # Validation runs inside fit: the history holds what Keras reported to every callback.
    assert history[1]["val_accuracy"] == pytest.approx(recorder.epochs[1]["val_accuracy"])
    assert history[1]["val_loss"] == pytest.approx(recorder.epochs[1]["val_loss"])
    # The test score is the project's one recipe, on the saved model.
    predictor = inference.Predictor(inference.load_model(run.model_path), engine="tensorflow")
    again = evaluation.score(predictor, mnist.x_test[:300], mnist.y_test[:300])
    assert meta["test_accuracy"] == pytest.approx(again.accuracy)
    assert meta["test_loss"] == pytest.approx(again.loss, rel=1e-5)
    assert run.has_model and not (run.path / "STOP").exists()
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_a_run_keeps_pictures_of_its_first_layer_before_and_after_each_epoch(tmp_path, mnist):
    run = train(TrainConfig("seed-mlp-dropout", epochs=1, **SMALL), models_dir=tmp_path, data=mnist)
    snapshots = runs.read_weight_snapshots(run.path)
    first = inference.load_model(run.model_path).layers[2]  # input, flatten, dense 128
    assert (snapshots.layer, snapshots.kind) == (first.name, "dense")
    assert snapshots.epochs.tolist() == [0, 1] and snapshots.images.shape == (2, 64, 28, 28)
    # After the epoch: the trained model's first 64 units, unit u's weight on pixel (r, c)
    # being kernel[r * 28 + c, u], in float16.
    kernel = first.get_weights()[0]
    expected = np.float16(kernel[:, :64].T.reshape(64, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(snapshots.images[1], expected)
    assert np.abs(snapshots.images[1] - snapshots.images[0]).max() > 1e-3  # it learned
    assert (run.path / "weights.npz").stat().st_size < 2 * 64 * 784 * 2 + 2048


def test_stop_request_ends_after_the_current_batch_and_keeps_a_model(tmp_path, mnist):
    recorder = Recorder(stop_after_batches=3)
    run = train(
        TrainConfig("seed-mlp-dropout", epochs=3, **SMALL),
        callbacks=[recorder],
        stop=recorder.should_stop,
        models_dir=tmp_path,
        data=mnist,
    )
    assert run.meta.status == "stopped"
    assert len(recorder.batches) == 3  # not one batch more
    assert run.meta.epochs_completed == 0 and runs.read_history(run.path) == []
    assert run.has_model and 0.0 <= run.meta.test_accuracy <= 1.0


def test_stop_file_keeps_the_best_epoch(tmp_path, mnist):
    class StopFileInSecondEpoch(Recorder):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if len(self.epochs) == 1 and batch + 1 == 2:  # batch 2 of epoch 2
                runs.request_stop(self.run_dir)

    run = prepare_run(TrainConfig("seed-mlp-dropout", epochs=3, **SMALL), tmp_path)
    recorder = StopFileInSecondEpoch(run.path)
    run = train_run(run.path, callbacks=[recorder], data=mnist)
    assert run.meta.status == "stopped"
    assert run.meta.epochs_completed == 1 and run.meta.best_epoch == 1
    progress = runs.read_progress(run.path)
    assert (progress["epoch"], progress["batch"]) == (2, 2) and len(recorder.batches) == 17 + 2
    assert [row["epoch"] for row in runs.read_history(run.path)] == [1]  # no row for the cut epoch
    assert not (run.path / "STOP").exists()


def test_a_stop_before_training_began_cancels_and_trains_nothing(tmp_path, mnist):
    run = prepare_run(TrainConfig("seed-mlp-dropout", **SMALL), tmp_path)
    runs.request_stop(run.path)  # the Stop button while the worker was still loading
    recorder = Recorder()
    run = train_run(run.path, callbacks=[recorder], data=mnist)
    assert run.status == "cancelled" and not recorder.began and not run.has_model
    assert not (run.path / "STOP").exists()


def test_only_a_queued_run_can_be_trained(tmp_path, mnist):
    run = train(TrainConfig("seed-mlp-dropout", epochs=1, **SMALL), models_dir=tmp_path, data=mnist)
    with pytest.raises(InputError, match="is completed: only a queued run can be trained"):
        train_run(run.path, data=mnist)


def test_same_seed_same_result_with_augmentation_and_schedule(tmp_path, mnist, tiny_cnn_preset):
    def run_once(seed):
        run = train(TrainConfig("tiny-cnn", seed=seed, **SMALL), models_dir=tmp_path, data=mnist)
        history = runs.read_history(run.path)
        from keras.saving import load_model

        return [(r["loss"], r["val_accuracy"]) for r in history], load_model(
            run.model_path
        ).get_weights()

    history_a, weights_a = run_once(5)
    history_b, weights_b = run_once(5)
    history_c, _ = run_once(6)
    assert history_a == history_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    assert history_a != history_c


def test_bad_parameters_are_refused_before_anything_is_written(tmp_path, mnist):
    for config, message in [
        (TrainConfig("fast-cnn", epochs=0), "epochs must be between 1 and 200"),
        (TrainConfig("fast-cnn", batch_size=100000), "batch_size must be between"),
        (TrainConfig("fast-cnn", learning_rate=5.0), "learning_rate must be between"),
        (TrainConfig("fast-cnn", learning_rate=float("nan")), "learning_rate must be a number"),
        (TrainConfig("fast-cnn", val_fraction=0.9), "val_fraction must be between"),
        (TrainConfig("fast-cnn", epochs=2.5), "epochs must be a number"),
        (TrainConfig("no-such-preset"), "Unknown preset 'no-such-preset'"),
    ]:
        with pytest.raises(InputError, match=message):
            train(config, models_dir=tmp_path, data=mnist)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_is_recorded_and_raised(tmp_path, mnist, monkeypatch):
    def broken(spec):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(training, "build_model", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        train(TrainConfig("fast-cnn", **SMALL), models_dir=tmp_path, data=mnist)
    (run,) = runs.list_runs(tmp_path)
    assert run.status == "failed" and "out of memory" in run.meta.error
    assert not run.has_model


def test_augmentation_is_seeded_and_keeps_the_digit_in_frame(mnist):
    import tensorflow as tf

    images = tf.constant(mnist.x_train[:64, :, :, None] / 255.0, tf.float32)
    seed = tf.constant([1, 2], tf.int64)
    a = training.augment_batch(images, seed).numpy()
    b = training.augment_batch(images, seed).numpy()
    c = training.augment_batch(images, tf.constant([1, 3], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, images.numpy())
    assert a.shape == (64, 28, 28, 1) and a.min() >= 0 and a.max() <= 1.0 + 1e-6
    # Shifts of at most 2.5 px and zoom of at most 10% keep nearly all the ink.
    ink_before, ink_after = images.numpy().sum(axis=(1, 2, 3)), a.sum(axis=(1, 2, 3))
    assert np.all(ink_after > 0.7 * ink_before) and np.all(ink_after < 1.35 * ink_before)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "code, failing_save",
    [
        (errno.ENOSPC, 2),  # a full disk at the checkpoint of epoch 2
        (errno.EROFS, 3),  # a read-only folder at the final save
    ],
    ids=["full-disk-checkpoint", "read-only-final-save"],
)
def test_a_failed_save_fails_the_run_in_one_line_and_keeps_the_last_model(
    tmp_path, mnist, monkeypatch, code, failing_save
):
    replace, saves = os.replace, []

    def failing_replace(src, dst):
        if Path(dst).name == "model.keras":
            saves.append(dst)
            if len(saves) == failing_save:
                raise OSError(code, os.strerror(code))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    message = f"Could not save the model: {os.strerror(code)}"
    # No validation: every epoch is the best so far, so saves are epoch 1, epoch 2, final.
    with pytest.raises(ModelError, match=message):
        train(
            TrainConfig("seed-mlp-dropout", epochs=2, val_fraction=0.0, **SMALL),
            models_dir=tmp_path,
            data=mnist,
        )
    (run,) = runs.list_runs(tmp_path)
    assert run.status == "failed" and run.meta.error == message
    assert len(runs.read_history(run.path)) == min(failing_save - 1, 2)
    assert zipfile.ZipFile(run.model_path).testzip() is None
    inference.load_model(run.model_path)  # the previous save, whole
    assert sorted(p.name for p in run.path.iterdir()) == [
        "history.csv",
        "model.keras",
        "progress.json",
        "run.json",
        "steps.csv",
        "tensorboard",  # the TensorBoard event files (a folder)
        "weights.npz",
    ]


@pytest.mark.slow  # starts a real training worker
def test_kill_9_mid_epoch_leaves_an_interrupted_run_whose_checkpoint_loads(tmp_path):
    """The worker's own command line, killed in its second epoch, with no chance to clean up."""
    env = {**os.environ, "MNIST_MODELS_DIR": str(tmp_path)}
    worker = subprocess.Popen(
        [
            sys.executable,
            *"-m mnist_core train --preset keras-convnet --epochs 3 --train-limit 3000 --test-limit 500 --run-id killed --quiet".split(),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = tmp_path / "killed"
    deadline = time.monotonic() + 180
    try:
        # One epoch done (so a checkpoint exists) and the next one under way.
        while not (runs.read_history(run_dir) and runs.read_progress(run_dir).get("epoch", 0) >= 2):
            assert worker.poll() is None, "the training ended before it could be killed"
            assert time.monotonic() < deadline, "the training did not reach its second epoch"
            time.sleep(0.02)
        worker.kill()
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    run = runs.read_run(run_dir)
    assert run.meta.status == "running" and run.status == "interrupted"
    assert run.meta.test_accuracy is None and run.meta.ended_at is None
    assert zipfile.ZipFile(run.model_path).testzip() is None  # a complete zip
    assert inference.load_model(run.model_path).output_shape == (None, 10)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []  # no temporaries
    assert runs.list_runs(tmp_path)[0].status == "interrupted"


# --------------------------------------------------------------------------- custom networks


def test_a_custom_spec_trains_and_its_run_records_the_spec(tmp_path, mnist):
    spec = specs.check(
        {
            "layers": [
                {"type": "Conv2D", "filters": 4, "kernel_size": 5, "strides": 2},
                {"type": "BatchNormalization"},
                {"type": "Activation", "activation": "elu"},
                {"type": "GlobalAveragePooling2D"},
            ],
            "optimizer": "sgd-momentum",
            "schedule": "reduce-on-plateau",
            "label_smoothing": 0.1,
            "patience": 1,
            "epochs": 3,
            "batch_size": 64,
        }
    )
    run = train(TrainConfig(spec=spec, epochs=2, **SMALL), models_dir=tmp_path, data=mnist)
    meta = runs.read_run(run.path).meta
    assert meta.status == "completed" and meta.preset == "custom" and "custom" in run.id
    assert meta.spec == spec.replace(epochs=2).to_dict()  # what was trained, changes included
    assert meta.description.startswith("Custom network: Conv2D 4 5x5 → BatchNormalization")
    assert meta.params.epochs == 2 and meta.params.batch_size == 64
    assert training.spec_of(meta) == spec.replace(epochs=2)
    model = inference.load_model(run.model_path)  # safe mode: nothing custom in it
    assert model.count_params() == sum(cost.params for cost in spec.costs())
    assert 0 <= meta.test_accuracy <= 1


def test_a_run_without_a_spec_trains_its_presets(tmp_path, mnist):
    run = prepare_run(TrainConfig("seed-mlp-dropout", epochs=1, **SMALL), tmp_path)
    runs.update_meta(run, spec=None)  # as runs made before specs existed
    train_run(run.path, data=mnist)
    meta = runs.read_run(run.path).meta
    assert meta.status == "completed" and meta.spec is None
    assert training.spec_of(meta) == presets.PRESETS["seed-mlp-dropout"].spec


def test_a_bad_spec_is_refused_before_anything_is_written(tmp_path, mnist):
    with pytest.raises(InputError, match="Layer 1 \\(Dense\\): meets 1 map of 28×28"):
        spec = specs.Spec(layers=({"type": "Dense", "units": 3},))  # unchecked, as if forged
        train(TrainConfig(spec=spec, **SMALL), models_dir=tmp_path, data=mnist)
    with pytest.raises(InputError, match="Invalid run id"):
        train(TrainConfig("../x", spec=presets.PRESETS["fast-cnn"].spec), models_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupted_copies_join_the_training_images(tmp_path, mnist):
    spec = specs.check(
        {"layers": [{"type": "Flatten"}], "corrupted_share": 0.5, "epochs": 1, "val_fraction": 0.1}
    )
    run = train(TrainConfig(spec=spec, **SMALL), models_dir=tmp_path, data=mnist)
    meta = runs.read_run(run.path).meta
    assert meta.status == "completed" and meta.spec["corrupted_share"] == 0.5
    assert meta.data.train_examples == 540 + 270  # 600 less 60 for validation, half again
    assert meta.data.val_examples == 60  # validation stays clean


def test_the_train_step_is_traced_once(tmp_path, mnist, monkeypatch):
    """One graph trace for the whole training, partial last batch and validation included:
    Keras would otherwise trace it twice, creating the optimizer's and metrics' variables in
    the first trace (`training.build_for_fit`), a fixed cost that dwarfs a quick run's steps."""
    traces = []

    def counting(spec):
        model = specs.build_model(spec)
        step = model.train_step

        def train_step(data):
            traces.append(data)
            return step(data)

        model.train_step = train_step
        return model

    monkeypatch.setattr(training, "build_model", counting)
    config = TrainConfig("fast-cnn", epochs=2, val_fraction=0.1, **SMALL)  # 540: 256, 256, 28
    run = train(config, models_dir=tmp_path, data=mnist)
    assert run.meta.status == "completed" and run.meta.epochs_completed == 2
    assert len(traces) == 1


ENSEMBLE = {"layers": TINY_CNN, "members": 2, "epochs": 2, "batch_size": 64, "val_fraction": 0.1,
            "corrupted_share": 0.5}  # fmt: skip


def test_an_ensemble_trains_its_networks_one_after_another_and_saves_their_average(tmp_path, mnist):
    recorder = Recorder()
    spec = specs.check(ENSEMBLE)
    run = train(
        TrainConfig(spec=spec, **SMALL), callbacks=[recorder], models_dir=tmp_path, data=mnist
    )
    meta = runs.read_run(run.path).meta
    assert meta.status == "completed" and meta.best_epoch is None  # one best epoch per network
    model = inference.load_model(run.model_path)  # safe mode: Keras' own classes only
    first, second = specs.networks(model)
    assert not np.allclose(first.get_weights()[0], second.get_weights()[0])  # own starts
    x = mnist.x_test[:20].astype(np.float32)[..., None] / 255
    both = (first.predict(x, verbose=0) + second.predict(x, verbose=0)) / 2
    np.testing.assert_allclose(model.predict(x, verbose=0), both, atol=1e-6)
    # The epochs go on from one network to the next: 4 epochs of 13 batches (540 + 270 changed
    # copies, in batches of 64).
    assert [e["epoch"] for e in recorder.epochs] == [1, 2, 3, 4] and len(recorder.batches) == 52
    assert [row["epoch"] for row in runs.read_history(run.path)] == [1, 2, 3, 4]
    progress = runs.read_progress(run.path)
    assert (progress["epoch"], progress["epochs"], progress["fraction"]) == (4, 4, 1.0)
    steps = runs.read_steps(run.path)
    assert steps[-1]["step"] == 52 and steps[-1]["epoch"] == pytest.approx(4.0)
    assert runs.read_weight_snapshots(run.path).epochs.tolist() == [0, 1, 2]  # the first's film
    assert meta.epochs_completed == 4 and meta.data.train_examples == 540 + 270
    predictor = inference.Predictor(model, engine="tensorflow")
    again = evaluation.score(predictor, mnist.x_test[:300], mnist.y_test[:300])
    assert meta.test_accuracy == pytest.approx(again.accuracy)
    assert sorted(p.name for p in run.path.glob("*.keras")) == ["model.keras"]


def test_a_stop_in_the_second_network_keeps_the_first_alone(tmp_path, mnist):
    recorder = Recorder(stop_after_batches=26 + 3)  # 3 batches into the second network
    spec = specs.check(ENSEMBLE)
    run = train(
        TrainConfig(spec=spec, **SMALL),
        callbacks=[recorder],
        stop=recorder.should_stop,
        models_dir=tmp_path,
        data=mnist,
    )
    assert run.meta.status == "stopped" and len(recorder.batches) == 29
    model = inference.load_model(run.model_path)
    assert len(specs.networks(model)) == 1  # the half-trained second network is left out
    assert training.spec_of(runs.read_run(run.path).meta).members == 1  # and run.json says so
    assert run.meta.epochs_completed == 2 and 0 <= run.meta.test_accuracy <= 1
    assert sorted(p.name for p in run.path.glob("*.keras")) == ["model.keras"]
