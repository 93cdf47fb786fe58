"""mnist_core.callbacks.WeightSnapshots on ten samples, a few epochs each: what it keeps, when,
how small, and what it does with a model it cannot picture or a disk that is full."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from mnist_core import runs
from mnist_core.callbacks import WeightSnapshots, weight_snapshots


def _model(first: layers.Layer, flatten_first: bool) -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = first(layers.Flatten()(inputs) if flatten_first else inputs)
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _fit(model: keras.Model, epochs: int, *callbacks) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, 28, 28, 1)).astype(np.float32)
    y = np.arange(10)
    model.fit(x, y, batch_size=5, epochs=epochs, callbacks=list(callbacks), verbose=0)


def test_filters_before_training_and_after_each_epoch(tmp_path):
    conv = layers.Conv2D(4, (3, 2))
    model = _model(conv, flatten_first=False)
    before = conv.get_weights()[0].copy()  # (3, 2, 1, 4)
    _fit(model, 2, WeightSnapshots(tmp_path))
    snapshots = runs.read_weight_snapshots(tmp_path)
    assert (snapshots.layer, snapshots.kind) == (conv.name, "conv")
    assert snapshots.epochs.tolist() == [0, 1, 2]
    assert snapshots.images.shape == (3, 4, 3, 2) and snapshots.images.dtype == np.float32
    for epoch, kernel in ((0, before), (2, conv.get_weights()[0])):
        # Filter f's weight at (row r, column c) is kernel[r, c, 0, f], kept as float16.
        expected = np.float16(kernel[:, :, 0, :]).transpose(2, 0, 1).astype(np.float32)
        np.testing.assert_array_equal(snapshots.images[epoch], expected)
    assert not np.array_equal(snapshots.images[0], snapshots.images[1])  # it learned


def test_a_wide_dense_layer_keeps_its_first_64_units_in_under_100_kib_each(tmp_path):
    dense = layers.Dense(100)
    _fit(_model(dense, flatten_first=True), 1, WeightSnapshots(tmp_path))
    snapshots = runs.read_weight_snapshots(tmp_path)
    assert snapshots.kind == "dense" and snapshots.images.shape == (2, 64, 28, 28)
    kernel = dense.get_weights()[0]  # (784, 100)
    assert snapshots.images[1, 63, 27, 1] == np.float16(kernel[27 * 28 + 1, 63])
    size = (tmp_path / runs.WEIGHTS_FILE).stat().st_size
    assert 2 * 64 * 784 * 2 < size < 2 * 64 * 784 * 2 + 2048  # float16 and a little header


def test_a_model_whose_first_layer_does_not_see_the_picture_gets_no_file(tmp_path):
    callback = WeightSnapshots(tmp_path)
    _fit(_model(layers.Dense(3), flatten_first=False), 1, callback)  # 3 weights per pixel
    assert list(tmp_path.iterdir()) == [] and callback.error is None


def test_an_epoch_cut_short_gets_no_snapshot(tmp_path):
    class StopInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1:
                self.model.stop_training = True

    _fit(_model(layers.Conv2D(2, 3), False), 3, WeightSnapshots(tmp_path), StopInSecondEpoch())
    assert runs.read_weight_snapshots(tmp_path).epochs.tolist() == [0, 1]


def test_a_long_training_keeps_epoch_0_the_latest_and_every_other_one_between(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(weight_snapshots, "MAX_SNAPSHOTS", 5)
    _fit(_model(layers.Conv2D(2, 3), flatten_first=False), 8, WeightSnapshots(tmp_path))
    # 0-4 kept; 5 makes six: 1 and 3 go; 6 makes five; 7 makes six again: 2 and 5 go.
    assert runs.read_weight_snapshots(tmp_path).epochs.tolist() == [0, 4, 6, 7, 8]


def test_a_full_disk_keeps_the_last_file_and_the_training_going(tmp_path, monkeypatch):
    replace, calls = os.replace, []

    def full_after_two(src, dst):
        if Path(dst).name == runs.WEIGHTS_FILE:
            calls.append(dst)
            if len(calls) > 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", full_after_two)
    callback = WeightSnapshots(tmp_path)
    _fit(_model(layers.Conv2D(2, 3), flatten_first=False), 3, callback)
    assert runs.read_weight_snapshots(tmp_path).epochs.tolist() == [0, 1]
    assert callback.error == f"Could not save the weight snapshots: {os.strerror(errno.ENOSPC)}"
    assert [p.name for p in tmp_path.iterdir()] == [runs.WEIGHTS_FILE]  # no temporaries


@pytest.mark.parametrize("preset", ["seed-mlp-100-sigmoid", "keras-convnet", "best-cnn"])
def test_every_kind_of_preset_gets_its_first_layer_pictured(preset, tmp_path):
    from mnist_core.presets import PRESETS

    model = PRESETS[preset].build()
    callback = WeightSnapshots(tmp_path)
    callback.set_model(model)
    callback.on_train_begin()
    snapshots = runs.read_weight_snapshots(tmp_path)
    first = next(layer for layer in model.layers if layer.get_weights())
    kernel = first.get_weights()[0]
    if kernel.ndim == 2:  # (784, units): at most 64 of them
        expected = (min(kernel.shape[1], 64), 28, 28)
    else:  # (kh, kw, 1, filters)
        expected = (kernel.shape[3], *kernel.shape[:2])
    assert snapshots.layer == first.name and snapshots.images.shape == (1, *expected)
