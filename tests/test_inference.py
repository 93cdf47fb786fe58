"""inference: tiny untrained models built here, checked against Keras' own model.predict; the
shipped model's model.tflite against its model.keras; runs without model.tflite; no TensorFlow."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import keras_model, preprocess
from mnist_core.data import normalise
from mnist_core.errors import InputError, ModelError
from mnist_core.inference import Prediction, Predictor, load_model, predict_image

from fresh_python import run_demo_script

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "default" / "model.keras"


def save(model: keras.Model, directory, name: str, suffix: str = ".keras"):
    path = directory / f"{name}{suffix}"
    model.save(path)
    return path


def classifier(last_activation="softmax", inputs=(28, 28, 1), classes=10, conv=False):
    keras.utils.set_random_seed(0)
    layers = [keras.Input(inputs)]
    if conv:
        layers += [keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D()]
    layers += [keras.layers.Flatten(), keras.layers.Dense(classes, activation=last_activation)]
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def cnn_path(models_dir):
    return save(classifier(conv=True), models_dir, "cnn")


@pytest.fixture(scope="module")
def predictor(cnn_path):
    return Predictor(load_model(cnn_path))


@pytest.fixture(scope="module")
def images():
    """float32 (50, 28, 28, 1) in [0, 1]: noise, so every output differs."""
    return np.random.default_rng(0).random((50, 28, 28, 1), dtype=np.float32)


# --------------------------------------------------------------------------- predicting


def test_predict_batch_matches_keras_predict(predictor, images):
    expected = predictor.model.predict(images, verbose=0)
    for batch_size in (1024, 16):  # one chunk, and chunks with a remainder
        got = predictor.predict_batch(images, batch_size=batch_size)
        assert got.shape == (50, 10) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_batch(images[..., 0]), expected, atol=1e-5)
    assert predictor.output_kind == "probabilities"


def test_predict_one_matches_the_batch(predictor, images):
    batch = predictor.predict_batch(images)
    for i in (0, 7, 49):
        for x in (images[i], images[i, :, :, 0]):
            got = predictor.predict_one(x)
            assert got.shape == (10,) and got.dtype == np.float32
            np.testing.assert_allclose(got, batch[i], atol=1e-6)


def test_empty_batch_and_bad_shapes(predictor):
    assert predictor.predict_batch(np.zeros((0, 28, 28, 1), np.float32)).shape == (0, 10)
    with pytest.raises(InputError):
        predictor.predict_batch(np.zeros((3, 32, 32, 1), np.float32))
    with pytest.raises(InputError):
        predictor.predict_one(np.zeros((28, 27), np.float32))


def test_concurrent_callers_get_their_own_answers(predictor, images):
    expected = predictor.predict_batch(images)
    wrong = []

    def work(offset):
        for i in range(offset, 50, 4):
            if not np.allclose(predictor.predict_one(images[i]), expected[i], atol=1e-6):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@pytest.mark.parametrize("activation, kind", [("sigmoid", "scores"), (None, "logits")])
def test_outputs_that_are_not_probabilities_are_made_so(models_dir, images, activation, kind):
    model = load_model(save(classifier(activation), models_dir, f"out-{kind}"))
    predictor = Predictor(model)
    assert predictor.output_kind == kind
    raw = model.predict(images, verbose=0)
    got = predictor.predict_batch(images)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    expected = (
        raw / raw.sum(axis=1, keepdims=True)
        if kind == "scores"
        else np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_one(images[3]), expected[3], atol=1e-5)


@pytest.mark.parametrize("inputs", [(28, 28), (784,)])
def test_flat_and_channel_less_inputs_are_adapted(models_dir, images, inputs):
    model = load_model(save(classifier(inputs=inputs), models_dir, f"in-{len(inputs)}"))
    expected = model.predict(images.reshape(-1, *inputs), verbose=0)
    np.testing.assert_allclose(Predictor(model).predict_batch(images), expected, atol=1e-5)


def test_predictor_refuses_a_model_built_in_memory_with_the_wrong_shape():
    with pytest.raises(ModelError, match="outputs"):
        Predictor(classifier(classes=5))


def test_predictor_from_path(cnn_path, images, predictor):
    np.testing.assert_allclose(
        Predictor.from_path(cnn_path).predict_batch(images[:5]),
        predictor.predict_batch(images[:5]),
        atol=1e-7,
    )


# --------------------------------------------------------------------------- engines


def test_the_default_engine_is_litert_and_agrees_with_tensorflow(cnn_path, predictor, images):
    graph = Predictor.from_path(cnn_path, engine="tensorflow")
    assert (predictor.engine, graph.engine) == ("LiteRT", "TensorFlow")
    assert predictor.fallback_reason is None
    expected = predictor.model.predict(images, verbose=0)
    np.testing.assert_allclose(graph.predict_batch(images, batch_size=16), expected, atol=1e-5)
    np.testing.assert_allclose(graph.predict_one(images[5]), expected[5], atol=1e-5)
    np.testing.assert_allclose(
        predictor.predict_batch(images), graph.predict_batch(images), atol=1e-5
    )


def test_a_model_tflite_cannot_take_falls_back_to_tensorflow(monkeypatch, cnn_path, images):
    def refuse(model):
        raise RuntimeError("op Foo is not supported\n  (in the converter)")

    monkeypatch.setattr(keras_model, "to_tflite", refuse)
    fallback = Predictor.from_path(cnn_path)
    assert fallback.engine == "TensorFlow"
    assert fallback.fallback_reason == "RuntimeError: op Foo is not supported (in the converter)"
    np.testing.assert_allclose(
        fallback.predict_batch(images), fallback.model.predict(images, verbose=0), atol=1e-5
    )
    with pytest.raises(ModelError, match="cannot run on LiteRT: op Foo") as info:
        Predictor.from_path(cnn_path, engine="tflite")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="engine"):
        Predictor.from_path(cnn_path, engine="onnx")


def test_a_conversion_that_changes_the_outputs_falls_back_to_tensorflow(
    monkeypatch, cnn_path, images
):
    """A flatbuffer that converts fine but computes something else (as a SavedModel of a
    Keras 3 model did once: NaN) is caught on the probes and not used."""
    convert = keras_model.to_tflite
    other = classifier("sigmoid")  # same shapes, other outputs
    monkeypatch.setattr(keras_model, "to_tflite", lambda model: convert(other))
    fallback = Predictor.from_path(cnn_path)
    assert fallback.engine == "TensorFlow"
    assert fallback.fallback_reason.startswith(
        "ValueError: the converted model's outputs differ from the model's by up to"
    )
    np.testing.assert_allclose(
        fallback.predict_batch(images), fallback.model.predict(images, verbose=0), atol=1e-5
    )
    with pytest.raises(ModelError, match="cannot run on LiteRT: the converted model"):
        Predictor.from_path(cnn_path, engine="tflite")


def test_single_images_and_batches_from_many_threads_at_once(predictor, images):
    expected = predictor.predict_batch(images)
    wrong = []

    def singles():
        for i in range(50):
            if not np.allclose(predictor.predict_one(images[i]), expected[i], atol=1e-6):
                wrong.append(("one", i))

    def batches(size):
        for _ in range(5):
            if not np.allclose(predictor.predict_batch(images[:size]), expected[:size], atol=1e-6):
                wrong.append(("batch", size))

    threads = [
        threading.Thread(target=singles),
        threading.Thread(target=singles),
        threading.Thread(target=batches, args=(50,)),
        threading.Thread(target=batches, args=(7,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# --------------------------------------------------------------------------- one picture


def test_predict_image_on_a_blank_canvas_finds_nothing(predictor):
    prediction = predict_image(predictor, np.zeros((280, 280, 4), np.uint8))
    assert not prediction.found
    assert (
        prediction.digit,
        prediction.confidence,
        prediction.probabilities,
        prediction.input_image,
        prediction.box,
    ) == (None, None, None, None, None)


def test_predict_image_on_a_drawing(predictor):
    canvas = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=255, width=20)
    prediction = predict_image(predictor, canvas)
    assert isinstance(prediction, Prediction) and prediction.found
    assert isinstance(prediction.digit, int) and 0 <= prediction.digit <= 9
    assert prediction.confidence == pytest.approx(float(prediction.probabilities.max()))
    np.testing.assert_array_equal(prediction.input_image, preprocess.to_mnist(canvas))
    np.testing.assert_allclose(
        prediction.probabilities, predictor.predict_one(prediction.input_image), atol=1e-7
    )
    # where the digit is: the 20 px wide stroke from y 40 to 240, round caps and all
    x0, y0, x1, y1 = prediction.box
    assert 125 <= x0 <= 131 and 149 <= x1 <= 155 and 25 <= y0 <= 41 and 239 <= y1 <= 255
    assert prediction.box == preprocess.find_digit(canvas).box


# --------------------------------------------------------------------------- no files


def test_loading_a_model_needs_no_temporary_folder(monkeypatch, tmp_path, cnn_path, images):
    """With a temporary folder that does not exist, whatever would write there fails (the
    SavedModel the conversion once went through, AutoGraph's generated source), so the TFLite
    engine would be lost to the fallback. It is not: nothing is written."""
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("TMPDIR", str(missing))
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    lite = Predictor.from_path(cnn_path)
    assert (lite.engine, lite.fallback_reason) == ("LiteRT", None)
    graph = Predictor.from_path(cnn_path, engine="tensorflow")
    np.testing.assert_allclose(lite.predict_batch(images), graph.predict_batch(images), atol=1e-5)
    assert not missing.exists()


_LOAD_AND_PREDICT = """
import json, sys, tempfile
from pathlib import Path

def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))

folder, model = tempfile.gettempdir(), Path(sys.argv[1])
before = {"temp": listing(folder), "model": listing(model.parent)}
import numpy as np
from mnist_core.inference import Predictor, load_model, predict_image

images = np.random.default_rng(0).random((300, 28, 28, 1), dtype=np.float32)
engines = []
for engine in ("auto", "tensorflow"):
    predictor = Predictor(load_model(model), engine)
    predictor.predict_batch(images)
    predictor.predict_one(images[0])
    predict_image(predictor, (images[1, :, :, 0] * 255).astype(np.uint8))
    engines.append(predictor.engine)
after = {"temp": listing(folder), "model": listing(model.parent)}
print(json.dumps({"folder": folder, "engines": engines, "before": before, "after": after}))
"""


def test_loading_and_predicting_leave_the_temporary_folder_as_it_was(tmp_path):
    """A fresh interpreter (as a server starts) with a temporary folder of its own: the
    shipped model loaded on both engines, batches, single images and a picture predicted;
    the folder is listed before and after, inside the process (AutoGraph removes its files
    only at a clean exit, which a server stopped by SIGTERM never reaches) and again after."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    seen = run_demo_script(_LOAD_AND_PREDICT, str(SHIPPED_MODEL), temp=temp, timeout=120)
    assert seen["folder"] == str(temp)
    assert seen["engines"] == ["LiteRT", "TensorFlow"]
    assert seen["before"]["temp"] == [] and seen["after"] == seen["before"]
    assert list(temp.iterdir()) == []


# --------------------------------------------------------------------------- verdict, calibration


def _drawing(*strokes) -> Image.Image:
    canvas = Image.new("L", (280, 280), 0)
    for points in strokes:
        ImageDraw.Draw(canvas).line(points, fill=255, width=18, joint="curve")
    return canvas


def test_predict_image_says_a_line_is_not_a_digit_and_keeps_the_best_guess(predictor):
    from mnist_core import digit_check

    line = predict_image(predictor, _drawing([(40, 150), (240, 140)]))
    assert line.found and line.is_digit is False
    assert isinstance(line.digit, int) and line.digit == int(np.argmax(line.probabilities))
    assert line.not_digit_score >= digit_check.detector().threshold
    seven = predict_image(predictor, _drawing([(70, 60), (210, 60), (120, 230)]))
    assert seven.is_digit is True and seven.not_digit_score < digit_check.detector().threshold
    for prediction in (line, seven):  # the verdict is the detector's on what the model saw
        assert prediction.is_digit == digit_check.is_digit(prediction.input_image)
        assert prediction.not_digit_score == pytest.approx(
            float(digit_check.not_digit_scores(prediction.input_image[None])[0])
        )
    blank = predict_image(predictor, np.zeros((280, 280, 4), np.uint8))
    assert (blank.is_digit, blank.not_digit_score) == (None, None)


def test_predict_image_shows_probabilities_calibrated_with_the_temperature(predictor):
    from mnist_core import digit_check

    warm = Predictor(predictor.model, temperature=2.0)
    drawing = _drawing([(140, 40), (140, 240)])
    prediction = predict_image(warm, drawing)
    raw = warm.predict_one(prediction.input_image)  # predict_one stays the model's own
    np.testing.assert_allclose(raw, predictor.predict_one(prediction.input_image), atol=1e-6)
    expected = raw.astype(np.float64) ** 0.5 / (raw.astype(np.float64) ** 0.5).sum()
    np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-6)
    assert prediction.confidence == pytest.approx(float(expected.max()), abs=1e-6)
    assert prediction.digit == int(np.argmax(raw))  # a temperature never changes the digit
    assert predict_image(predictor, drawing).probabilities == pytest.approx(raw, abs=1e-7)
    assert digit_check.calibrate(raw, 1.0) is raw
    for bad in (0, -1.0, float("nan"), float("inf"), "2"):
        with pytest.raises(ValueError, match="temperature"):
            Predictor(predictor.model, temperature=bad)


def test_from_path_takes_the_temperature_its_run_recorded(cnn_path, tmp_path):
    import shutil

    from mnist_core import runs

    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="warm")
    shutil.copy(cnn_path, run.model_path)
    assert Predictor.from_path(run.model_path).temperature == 1.0  # none recorded
    runs.update_meta(run, status="completed", temperature=1.7)
    assert Predictor.from_path(run.model_path).temperature == 1.7
    assert Predictor.from_path(cnn_path).temperature == 1.0  # a file outside a run


# --------------------------------------------------------------------------- model.tflite


def test_the_shipped_model_tflite_reads_as_its_model_keras(mnist):
    """models/default ships both files: the flatbuffer must be the Keras model's own (a new
    model.keras committed without its model.tflite would fail here)."""
    x = normalise(mnist.x_test[:200])
    lite = Predictor(SHIPPED_MODEL.with_name("model.tflite").read_bytes())
    keras_out = load_model(SHIPPED_MODEL).predict(x, verbose=0)
    np.testing.assert_allclose(lite.predict_batch(x), keras_out, atol=1e-5)
    from_path = Predictor.from_path(SHIPPED_MODEL)
    assert (from_path.engine, from_path.model) == ("LiteRT", None)  # the file, not a conversion
    np.testing.assert_array_equal(from_path.predict_batch(x).argmax(1), keras_out.argmax(1))


@pytest.fixture
def old_run(tmp_path, cnn_path):
    """A run folder as runs made before model.tflite existed: run.json and model.keras only."""
    from mnist_core import runs

    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="old", status="completed")
    shutil.copy(cnn_path, run.model_path)
    return run


def test_a_run_without_model_tflite_gets_one_made_once(old_run, monkeypatch, images):
    lite = old_run.path / "model.tflite"
    first = Predictor.from_path(old_run.model_path)
    assert lite.is_file() and first.engine == "LiteRT"
    assert sorted(p.name for p in old_run.path.iterdir()) == [
        "model.keras",
        "model.tflite",
        "run.json",
    ]
    made = lite.stat().st_mtime_ns

    def no_keras(path):
        raise AssertionError("model.keras loaded again")

    monkeypatch.setattr(keras_model, "load_model", no_keras)
    again = Predictor.from_path(old_run.model_path)  # the file is read, nothing made
    assert lite.stat().st_mtime_ns == made and again.model is None
    np.testing.assert_allclose(again.predict_batch(images), first.predict_batch(images), atol=1e-6)


def test_a_model_tflite_older_than_model_keras_or_damaged_is_made_again(old_run, cnn_path):
    lite = old_run.path / "model.tflite"
    expected = Predictor.from_path(cnn_path).predict_batch(np.zeros((1, 28, 28, 1), np.float32))
    lite.write_bytes(b"not a flatbuffer")  # damaged (and newer than model.keras)
    assert Predictor.from_path(old_run.model_path).engine == "LiteRT"
    assert lite.read_bytes()[4:8] == b"TFL3"
    keras_mtime = old_run.model_path.stat().st_mtime_ns
    os.utime(lite, ns=(keras_mtime - 10**9, keras_mtime - 10**9))  # older: a new model.keras
    predictor = Predictor.from_path(old_run.model_path)
    assert lite.stat().st_mtime_ns >= keras_mtime
    got = predictor.predict_batch(np.zeros((1, 28, 28, 1), np.float32))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_demo_mode_and_a_read_only_run_folder_predict_without_writing(old_run, monkeypatch, caplog):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    assert Predictor.from_path(old_run.model_path).engine == "LiteRT"
    assert not (old_run.path / "model.tflite").exists()
    monkeypatch.delenv("MNIST_STUDIO_DEMO")

    def read_only(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)  # (root writes into a chmod 555 folder)
    assert Predictor.from_path(old_run.model_path).engine == "LiteRT"
    assert sorted(p.name for p in old_run.path.iterdir()) == ["model.keras", "run.json"]
    assert "Could not keep" in caplog.text and "Read-only file system" in caplog.text


_NO_TENSORFLOW = """
import json, sys
from pathlib import Path
import numpy as np
from mnist_core import api, evaluation, inference

model = Path(sys.argv[1])
predictor = inference.Predictor.from_path(model)
picture = (np.random.default_rng(0).random((280, 280)) > 0.97).astype(np.uint8) * 255
inference.predict_image(predictor, picture)
api.read_picture  # the API module too (its routes load through ModelCache)
x = np.random.default_rng(1).random((300, 28, 28, 1), dtype=np.float32)
evaluation.score(predictor, (x[..., 0] * 255).astype(np.uint8), np.arange(300) % 10)
print(json.dumps({"engine": predictor.engine, "loaded": [
    m for m in ("tensorflow", "keras", "mnist_core.keras_model") if m in sys.modules]}))
"""


def test_predicting_and_evaluating_a_run_import_no_tensorflow(shipped_models_dir, tmp_path):
    """In a fresh process: the run's model.tflite loaded, a picture read, a batch scored."""
    seen = run_demo_script(
        _NO_TENSORFLOW,
        str(shipped_models_dir / "default" / "model.keras"),
        temp=tmp_path,
        timeout=120,
    )
    assert seen == {"engine": "LiteRT", "loaded": []}
