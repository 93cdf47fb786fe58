"""TensorBoard event files of a run, read back with TensorBoard's own event reader: per-step
and per-epoch scalars, the learning rate step by step, weight histograms, the graph."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from mnist_core import runs, specs
from mnist_core.callbacks import tensorboard_logs as board
from mnist_core.training import TrainConfig, train


def _read(folder) -> EventAccumulator:
    """TensorBoard's reader over one folder, keeping every record (no sampling)."""
    return EventAccumulator(str(folder), size_guidance={"tensors": 0}).Reload()


def _scalars(events: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a scalar; TF 2 writes scalars as tensors of the scalars plugin."""
    assert events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]


def _fit(tmp_path, epochs=2, steps=60):
    """A two-layer model on random numbers, a decaying learning rate, validation data."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 4, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    schedule = keras.optimizers.schedules.PolynomialDecay(0.1, steps * epochs, 0.01)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    callback = board.tensorboard_logs(tmp_path, steps_per_epoch=steps)
    history = model.fit(
        x, y, batch_size=4, epochs=epochs, validation_data=(x[:40], y[:40]),
        callbacks=[callback], verbose=0,
    )  # fmt: skip
    return model, history.history


def test_the_event_files_hold_every_kind_of_record(tmp_path):
    model, history = _fit(tmp_path)
    train = _read(tmp_path / board.FOLDER / "train")
    val = _read(tmp_path / board.FOLDER / "validation")
    tags = train.Tags()

    # Per step: ten points an epoch (60 steps: one every 6), over both epochs.
    steps = [s for s, _ in _scalars(train, "batch_loss")]
    assert steps == list(range(6, 121, 6))
    assert [s for s, _ in _scalars(train, "batch_accuracy")] == steps
    rates = [v for _, v in _scalars(train, "batch_learning_rate")]
    assert len(rates) == len(steps) and all(a > b for a, b in zip(rates, rates[1:]))

    # Per epoch: the numbers Keras' history has, and the validation's in their own folder.
    for name in ("loss", "accuracy"):
        logged = [v for _, v in _scalars(train, f"epoch_{name}")]
        np.testing.assert_allclose(logged, history[name], rtol=1e-5)
        logged = [v for _, v in _scalars(val, f"epoch_{name}")]
        np.testing.assert_allclose(logged, history[f"val_{name}"], rtol=1e-5)
    assert len(_scalars(train, "epoch_learning_rate")) == 2

    # A histogram of each weight per epoch.
    weights = [w.path.replace(":", "_") + "/histogram" for w in model.weights]
    assert set(weights) <= set(tags["tensors"])
    for tag in weights:
        assert train.SummaryMetadata(tag).plugin_data.plugin_name == "histograms"
        assert [e.step for e in train.Tensors(tag)] == [0, 1]
    # The model's graph: Keras' conceptual graph, which TensorBoard's Graphs tab draws.
    assert train.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"
    [graph] = train.Tensors("keras")
    described = tensor_util.make_ndarray(graph.tensor_proto).item().decode()
    assert all(layer.name in described for layer in model.layers)


def test_a_run_folder_gets_its_tensorboard_files(tmp_path, mnist):
    run = train(
        TrainConfig("seed-mlp-dropout", epochs=1, train_limit=600, test_limit=100,
                    val_fraction=0.1, batch_size=16),
        models_dir=tmp_path, data=mnist,
    )  # fmt: skip
    events = _read(run.path / board.FOLDER / "train")
    # 34 steps of 16 images: ten points an epoch, one every 3 steps
    assert [s for s, _ in _scalars(events, "batch_loss")] == list(range(3, 35, 3))
    [(_, epoch_loss)] = _scalars(events, "epoch_loss")
    [row] = runs.read_history(run.path)
    assert epoch_loss == pytest.approx(row["loss"], rel=1e-5)
    assert _scalars(_read(run.path / board.FOLDER / "validation"), "epoch_accuracy")


def test_an_ensemble_logs_its_networks_one_after_another(tmp_path, mnist):
    spec = {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 8}], "members": 2}
    run = train(
        TrainConfig(spec=specs.check(spec), epochs=1, train_limit=600, test_limit=100,
                    val_fraction=0.1, batch_size=16),
        models_dir=tmp_path, data=mnist,
    )  # fmt: skip
    events = _read(run.path / board.FOLDER / "train")
    # Two networks of 34 steps: the second's points go on from the first's.
    assert [s for s, _ in _scalars(events, "batch_loss")] == list(range(3, 69, 3))
    assert [s for s, _ in _scalars(events, "epoch_loss")] == [0, 1]


def test_the_step_interval_gives_ten_points_an_epoch_up_to_every_25_steps():
    assert [board.step_interval(n) for n in (5, 34, 60, 235, 469, None)] == [1, 3, 6, 23, 25, 25]


def test_turned_off_no_files_and_a_line_in_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv(board.ENV_SWITCH, "0")
    said = []
    assert board.tensorboard_logs(tmp_path, said.append) is None
    assert said and board.ENV_SWITCH in said[0]
    assert not (tmp_path / board.FOLDER).exists()
