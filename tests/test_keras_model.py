"""keras_model: loading model files safely, model.tflite written beside a run's model.keras
(atomically, at the end of training too), checked against the Keras model's own outputs."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_core import runs
from mnist_core.data import normalise
from mnist_core.errors import ModelError
from mnist_core.inference import Predictor
from mnist_core.keras_model import load_model, save_tflite


def save(model: keras.Model, directory, name: str, suffix: str = ".keras"):
    path = directory / f"{name}{suffix}"
    model.save(path)
    return path


def classifier(last_activation="softmax", inputs=(28, 28, 1), classes=10):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(inputs),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(classes, activation=last_activation),
        ]
        if inputs == (28, 28, 1)
        else [keras.Input(inputs), keras.layers.Flatten(), keras.layers.Dense(classes)]
    )


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- loading


def assert_model_error(path, match: str):
    with pytest.raises(ModelError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    assert_model_error(tmp_path / "nope.keras", "not found")


@pytest.mark.parametrize(
    "name, content",
    [
        ("random.keras", os.urandom(2048)),
        ("empty.keras", b""),
        ("random.h5", os.urandom(2048)),
        ("notes.txt", b"not a model"),
    ],
)
def test_files_that_are_not_models(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_model_error(path, "not a Keras model|cannot be loaded")


def test_zip_without_a_model_inside(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert_model_error(path, "cannot be loaded")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_for_safety(tmp_path, suffix):
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Lambda(lambda x: x * 2.0),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    assert_model_error(save(model, tmp_path, "lambda", suffix), "refused for safety.*Lambda")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(inputs=(32, 32, 3)), r"takes input \(None, 32, 32, 3\)"),
        (dict(classes=5), r"outputs \(None, 5\)"),
    ],
)
def test_wrong_shapes_are_refused(tmp_path, kwargs, match):
    assert_model_error(save(classifier(**kwargs), tmp_path, "wrong"), match)


# --------------------------------------------------------------------------- model.tflite


def test_save_tflite_writes_what_litert_runs_as_keras_does(tmp_path):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r")
    model = classifier()
    model.save(run.model_path)
    assert save_tflite(model, run.model_path) == run.path / "model.tflite"
    assert temporary_files(run.path) == []
    assert run.path.joinpath("model.tflite").stat().st_mtime_ns >= run.model_path.stat().st_mtime_ns
    images = np.random.default_rng(1).random((20, 28, 28, 1), dtype=np.float32)
    lite = Predictor(run.path.joinpath("model.tflite").read_bytes())
    assert lite.engine == "LiteRT" and lite.model is None
    np.testing.assert_allclose(
        lite.predict_batch(images), model.predict(images, verbose=0), atol=1e-5
    )


def test_save_tflite_is_atomic_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r")
    target = run.path / "model.tflite"
    target.write_bytes(b"the previous one")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ModelError, match="Could not save model.tflite: No space left on device"):
        save_tflite(classifier(), run.model_path)
    assert target.read_bytes() == b"the previous one"
    assert temporary_files(run.path) == []  # the temporary file beside it is gone too


def test_save_tflite_leaves_none_for_a_model_litert_cannot_take(tmp_path, monkeypatch, caplog):
    from mnist_core import keras_model

    def refuse(model):
        raise RuntimeError("op Foo is not supported")

    monkeypatch.setattr(keras_model, "to_tflite", refuse)
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r")
    assert save_tflite(classifier(), run.model_path) is None
    assert not (run.path / "model.tflite").exists() and "op Foo" in caplog.text
    with pytest.raises(ValueError, match="not a run's model.keras"):
        save_tflite(classifier(), tmp_path / "other.keras")


def test_training_leaves_model_tflite_beside_model_keras(tiny_models_dir, mnist):
    """The conftest's run was trained by training.train: its model.tflite is written after
    model.keras and reads the test images as the Keras model does."""
    run = runs.read_run(tiny_models_dir / "default")
    lite = run.path / "model.tflite"
    assert lite.is_file() and lite.stat().st_mtime_ns >= run.model_path.stat().st_mtime_ns
    x = normalise(mnist.x_test[:50])
    np.testing.assert_allclose(
        Predictor(lite.read_bytes()).predict_batch(x),
        load_model(run.model_path).predict(x, verbose=0),
        atol=1e-5,
    )
