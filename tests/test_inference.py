"""inference: tiny untrained models built here, checked against Keras' own model.predict."""

from __future__ import annotations

import os
import tempfile
import threading
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import inference, preprocess
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


def test_the_default_engine_is_tflite_and_agrees_with_tensorflow(cnn_path, predictor, images):
    graph = Predictor.from_path(cnn_path, engine="tensorflow")
    assert (predictor.engine, graph.engine) == ("TensorFlow Lite", "TensorFlow")
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

    monkeypatch.setattr(inference, "_to_tflite", refuse)
    fallback = Predictor.from_path(cnn_path)
    assert fallback.engine == "TensorFlow"
    assert fallback.fallback_reason == "RuntimeError: op Foo is not supported (in the converter)"
    np.testing.assert_allclose(
        fallback.predict_batch(images), fallback.model.predict(images, verbose=0), atol=1e-5
    )
    with pytest.raises(ModelError, match="cannot run on TensorFlow Lite: op Foo") as info:
        Predictor.from_path(cnn_path, engine="tflite")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="engine"):
        Predictor.from_path(cnn_path, engine="onnx")


def test_a_conversion_that_changes_the_outputs_falls_back_to_tensorflow(
    monkeypatch, cnn_path, images
):
    """A flatbuffer that converts fine but computes something else (as a SavedModel of a
    Keras 3 model did once: NaN) is caught on the probes and not used."""
    convert = inference._to_tflite
    other = classifier("sigmoid")  # same shapes, other outputs
    monkeypatch.setattr(inference, "_to_tflite", lambda model: convert(other))
    fallback = Predictor.from_path(cnn_path)
    assert fallback.engine == "TensorFlow"
    assert fallback.fallback_reason.startswith(
        "ValueError: the converted model's outputs differ from the model's by up to"
    )
    np.testing.assert_allclose(
        fallback.predict_batch(images), fallback.model.predict(images, verbose=0), atol=1e-5
    )
    with pytest.raises(ModelError, match="cannot run on TensorFlow Lite: the converted model"):
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
    ) == (None, None, None, None)


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


# --------------------------------------------------------------------------- no files


def test_loading_a_model_needs_no_temporary_folder(monkeypatch, tmp_path, cnn_path, images):
    """With a temporary folder that does not exist, whatever would write there fails (the
    SavedModel the conversion once went through, AutoGraph's generated source), so the TFLite
    engine would be lost to the fallback. It is not: nothing is written."""
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("TMPDIR", str(missing))
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    lite = Predictor.from_path(cnn_path)
    assert (lite.engine, lite.fallback_reason) == ("TensorFlow Lite", None)
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
    assert seen["engines"] == ["TensorFlow Lite", "TensorFlow"]
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
