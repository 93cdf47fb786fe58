"""The model files Evaluate offers (pages/model_downloads.py): each is what it says (the
files load and predict as the run's model.keras does), and the demo's limits hold."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pages import model_downloads

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    return at.switch_page("pages/evaluate.py").run()


def _labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_all_four_files_are_offered(models_env, monkeypatch):
    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    at = _page()
    assert not at.exception
    assert _labels(at) == [
        "Model file (.keras)",
        "SavedModel (.zip)",
        "LiteRT model (.tflite)",
        "Metrics table (.csv)",
    ]


def test_the_demo_offers_no_savedmodel_and_no_file_over_its_limit(models_env, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    at = _page()
    assert not at.exception
    assert "SavedModel (.zip)" not in _labels(at) and "Model file (.keras)" in _labels(at)
    assert any(c.value.startswith("SavedModel (.zip): not in this demo") for c in at.caption)

    monkeypatch.setattr(model_downloads, "DEMO_MAX_DOWNLOAD_MB", 0)
    at = _page()
    assert not at.exception
    assert _labels(at) == ["Metrics table (.csv)"]
    assert any(c.value.startswith("Model file (.keras): Not in this demo") for c in at.caption)


def test_the_tflite_file_is_the_runs_or_made_in_memory(own_models, mnist):
    """The kept model.tflite is sent as it is; without one the conversion made in memory reads
    the test images as Keras does, and nothing is written into the run folder."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    models = own_models()
    model_path = models / "default" / "model.keras"
    kept = model_path.with_name("model.tflite")
    assert model_downloads.tflite_bytes(model_path) == kept.read_bytes()
    kept.unlink()
    before = sorted(p.name for p in model_path.parent.iterdir())
    flatbuffer = model_downloads.tflite_bytes(model_path)
    assert sorted(p.name for p in model_path.parent.iterdir()) == before

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    [given], [out] = interpreter.get_input_details(), interpreter.get_output_details()
    x = mnist.x_test[:8].astype(np.float32)[..., None] / 255.0
    answers = []
    for image in x:
        interpreter.set_tensor(given["index"], image[None].reshape(given["shape"]))
        interpreter.invoke()
        answers.append(int(interpreter.get_tensor(out["index"]).argmax()))
    keras_answers = keras.models.load_model(model_path).predict(x, verbose=0).argmax(axis=1)
    assert answers == list(keras_answers)


def test_a_tflite_older_than_its_model_is_not_sent(own_models):
    """A kept model.tflite older than model.keras (a model written again after it) stands for
    another model: the download is converted from the model instead."""
    model_path = own_models() / "default" / "model.keras"
    kept = model_path.with_name("model.tflite")
    kept.write_bytes(b"an older model")
    older = model_path.stat().st_mtime_ns - 10**9
    os.utime(kept, ns=(older, older))
    flatbuffer = model_downloads.tflite_bytes(model_path)
    assert flatbuffer != b"an older model" and flatbuffer[4:8] == b"TFL3"
    assert kept.read_bytes() == b"an older model"  # nothing written into the run folder


@pytest.mark.parametrize("demo", ["1", None])
def test_no_download_is_built_while_the_page_draws(own_models, monkeypatch, demo):
    """Files are made on click only: drawing the page calls neither conversion."""
    models = own_models()
    if demo:
        monkeypatch.setenv("MNIST_STUDIO_DEMO", demo)
    else:
        monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    called = []
    monkeypatch.setattr(model_downloads, "saved_model_zip", lambda p: called.append(p))
    monkeypatch.setattr(model_downloads, "tflite_bytes", lambda p: called.append(p))
    at = _page()
    assert not at.exception and not called
    assert (models / "default" / "model.keras").exists()
