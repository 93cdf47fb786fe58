"""StepHistory: steps.csv holds a learning curve within an epoch, its windows' means add up to
the epoch's mean, and the learning rate of each step is recorded."""

import keras
import numpy as np

from mnist_core import runs
from mnist_core.callbacks.step_history import StepHistory


def _fit(tmp_path, every, epochs=1, steps=12):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(steps * 8, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax")])
    schedule = keras.optimizers.schedules.PolynomialDecay(0.1, steps * epochs, 0.01)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callback = StepHistory(tmp_path, every=every)
    history = model.fit(x, y, batch_size=8, epochs=epochs, callbacks=[callback], verbose=0)
    return runs.read_steps(tmp_path), history.history


def test_a_one_epoch_run_has_a_curve_whose_windows_average_to_the_epoch(tmp_path):
    rows, history = _fit(tmp_path, every=5)  # 12 steps: rows after 5, 10 and the last, 12
    assert [r["step"] for r in rows] == [5, 10, 12]
    assert [r["epoch"] for r in rows] == [5 / 12, 10 / 12, 1.0]
    for name in ("loss", "accuracy"):
        windows = np.array([r[name] for r in rows])
        mean = (windows * [5, 5, 2]).sum() / 12  # each window weighs its batches
        np.testing.assert_allclose(mean, history[name][0], rtol=1e-4)
    rates = [r["learning_rate"] for r in rows]
    assert rates[0] > rates[1] > rates[2]  # the decaying schedule, step by step


def test_each_epoch_starts_its_windows_again(tmp_path):
    rows, _ = _fit(tmp_path, every=None, epochs=2, steps=30)  # ten points an epoch: every 3
    assert len(rows) == 20 and rows[-1]["step"] == 60 and rows[-1]["epoch"] == 2.0
    assert all(0 <= r["accuracy"] <= 1 and r["loss"] > 0 for r in rows)
