"""mnist_core.api in-process: TF Serving's REST shapes, predictions equal the Predictor's own,
/api/read equal to the Draw page's path, and every bad request answered in one JSON line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import api
from mnist_core.inference import predict_image


def call(method: str, path: str, body=None, **query) -> tuple[int, dict]:
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return api.handle({"method": method, "path": path, "query": query, "body": body or b""})


def predict(body, run: str = "default") -> tuple[int, dict]:
    return call("POST", f"/v1/models/{run}:predict", body)


@pytest.fixture(scope="module")
def images(mnist) -> tuple[np.ndarray, np.ndarray]:
    """20 real test images as the model takes them: float32 (20, 28, 28, 1) in [0, 1]."""
    x = (mnist.x_test[:20].astype(np.float32) / 255.0)[..., None]
    return x, mnist.y_test[:20]


@pytest.fixture
def predictor(shipped_models_env):
    return api.MODELS.get(shipped_models_env / "default" / "model.keras")


def test_status_and_metadata_have_tf_servings_shapes(shipped_models_env):
    for path in ("/v1/models/default", "/v1/models/default/versions/1"):
        assert call("GET", path) == (
            200,
            {
                "model_version_status": [
                    {
                        "version": "1",
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )
    status, meta = call("GET", "/v1/models/default/metadata")
    assert status == 200
    assert meta["model_spec"] == {"name": "default", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    image = signature["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    (output,) = signature["outputs"].values()
    assert [d["size"] for d in output["tensor_shape"]["dim"]] == ["-1", "10"]
    assert call("GET", "/v1/models/default/versions/1/metadata") == (200, meta)


def test_predictions_are_the_predictors_own(predictor, images):
    x, y = images
    expected = predictor.predict_batch(x)
    status, rows = predict({"instances": x.tolist()})
    assert status == 200
    got = np.asarray(rows["predictions"], np.float32)
    assert got.shape == (20, 10)
    np.testing.assert_array_equal(got, expected)  # JSON carries float32 exactly
    assert (got.argmax(1) == y).all()
    # columnar, named forms, (28, 28) instances, the signature named: all the same answer
    for body in (
        {"inputs": x.tolist()},
        {"inputs": {"image": x.tolist()}},
        {"signature_name": "serving_default", "inputs": x[..., 0].tolist()},
    ):
        status, columns = predict(body)
        assert status == 200 and list(columns) == ["outputs"]
        np.testing.assert_array_equal(np.asarray(columns["outputs"], np.float32), expected)
    status, named = predict({"instances": [{"image": row} for row in x[..., 0].tolist()]})
    np.testing.assert_array_equal(np.asarray(named["predictions"], np.float32), expected)
    one = predict({"instances": x[:1].tolist()}, run="default")[1]["predictions"]
    np.testing.assert_array_equal(np.asarray(one, np.float32)[0], predictor.predict_one(x[0]))
    versioned = call("POST", "/v1/models/default/versions/1:predict", {"instances": x[:3].tolist()})
    assert versioned[0] == 200 and len(versioned[1]["predictions"]) == 3


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_read_a_picture_as_the_draw_page_does(predictor, mnist):
    from mnist_core.images import load_image

    picture = _png(np.kron(mnist.x_test[0], np.ones((4, 4), np.uint8)))  # 112x112, white on black
    status, answer = call("POST", "/api/read", picture, model="default")
    expected = predict_image(predictor, load_image(picture))
    assert status == 200 and answer["digit"] == expected.digit == mnist.y_test[0]
    assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-7)
    np.testing.assert_allclose(answer["probabilities"], expected.probabilities, atol=1e-7)
    assert np.asarray(answer["input"]).shape == (28, 28)
    np.testing.assert_allclose(answer["input"], expected.input_image, atol=5e-5)
    assert all(v == round(v, 4) for row in answer["input"] for v in row)
    blank = call("POST", "/api/read", _png(np.zeros((50, 50), np.uint8)))
    assert blank == (
        200,
        {
            "digit": None,
            "confidence": None,
            "is_digit": None,
            "not_digit_score": None,
            "probabilities": None,
            "input": None,
        },
    )
    picked = api.handle({"method": "POST", "path": "/api/read", "query": {}, "picture": picture})
    assert picked == (status, answer)  # a multipart form's file, taken out by the route


def test_read_says_whether_the_picture_is_a_digit(predictor, mnist):
    from mnist_core import digit_check

    digit = _png(np.kron(mnist.x_test[0], np.ones((4, 4), np.uint8)))
    line = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(line).line([(40, 150), (240, 135)], fill=255, width=18)
    answers = [call("POST", "/api/read", picture)[1] for picture in (digit, _png(np.asarray(line)))]
    assert [answer["is_digit"] for answer in answers] == [True, False]
    assert answers[1]["digit"] in range(10)  # the best guess, still given
    for answer in answers:
        score = digit_check.not_digit_scores(np.asarray(answer["input"], np.float32)[None])[0]
        assert answer["not_digit_score"] == pytest.approx(float(score), abs=1e-3)
    # The confidence shown is the calibrated one: the run's temperature on the model's own.
    raw = predictor.predict_one(np.asarray(answers[0]["input"], np.float32))
    calibrated = digit_check.calibrate(raw, predictor.temperature)
    assert answers[0]["confidence"] == pytest.approx(float(calibrated.max()), abs=1e-4)


def test_one_model_cache_for_the_api_and_the_pages(predictor, shipped_models_env):
    from pages import shared

    model_path = shipped_models_env / "default" / "model.keras"
    assert shared.predictor(model_path) is predictor is api.predictor_of("default")


ZEROS = [[0.0] * 28] * 28


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"[" * 100_000, 400, "not valid JSON"),  # nested too deep
        (b"", 400, "not valid JSON"),
        ([1, 2], 400, "JSON object"),
        ({}, 400, "exactly one"),
        ({"instances": [ZEROS], "inputs": [ZEROS]}, 400, "exactly one"),
        ({"instances": []}, 400, "non-empty"),
        ({"instances": "zeros"}, 400, "non-empty"),
        ({"instances": [[0.0] * 784]}, 400, "shape (1, 784)"),
        ({"instances": [[[0.0] * 27] * 28]}, 400, "shape (1, 28, 27)"),
        ({"instances": [ZEROS, ZEROS[:5]]}, 400, "equal lengths"),
        ({"instances": [[["a"] * 28] * 28]}, 400, "numbers"),
        ({"instances": [[[2.0] * 28] * 28]}, 400, "[0, 1]"),
        ({"instances": [[[-0.5] * 28] * 28]}, 400, "[0, 1]"),
        ({"inputs": {"pixels": [ZEROS]}}, 400, "'image'"),
        ({"instances": [{"pixels": ZEROS}]}, 400, "'image'"),
        ({"inputs": []}, 400, "shape (0,)"),
        ({"instances": [ZEROS], "signature_name": "predict"}, 400, "signature_name"),
        ({"instances": [ZEROS], "extra": 1}, 400, "Unknown keys"),
        ({"instances": [ZEROS] * 1025}, 413, "at most 1024"),
        ({"inputs": [ZEROS] * 1025}, 413, "at most 1024"),
    ],
)
def test_bad_predict_requests_are_one_json_line(shipped_models_env, body, status, words):
    got, answer = predict(body)
    assert got == status and list(answer) == ["error"]
    assert words in answer["error"] and "\n" not in answer["error"]


def test_nan_and_infinity_are_refused(shipped_models_env):
    rows = json.dumps({"instances": [ZEROS]}).replace("0.0", "NaN", 1).encode()
    assert predict(rows) == (400, {"error": "Instances hold NaN or infinite values."})
    rows = json.dumps({"instances": [ZEROS]}).replace("0.0", "Infinity", 1).encode()
    assert predict(rows)[0] == 400


def test_the_json_body_is_capped(shipped_models_env):
    assert predict(b" " * (api.MAX_JSON_BYTES + 1))[0] == 413


@pytest.mark.parametrize(
    "run, words",
    [
        ("nope", "No model called 'nope'"),
        ("..", "No model called '..'"),
        ("...", "Invalid run id"),
        (".hidden", "Invalid run id"),
        ("x.keras", "No model called"),  # a file name is a name, never a path
        ("%2e%2e", "Invalid run id"),
        ("", "Invalid run id"),
    ],
)
def test_unknown_and_forged_run_names_are_404(shipped_models_env, run, words):
    for method, path in (
        ("GET", f"/v1/models/{run}"),
        ("GET", f"/v1/models/{run}/metadata"),
        ("POST", f"/v1/models/{run}:predict"),
    ):
        status, answer = call(method, path, {"instances": [ZEROS]})
        assert status == 404 and words in answer["error"], (path, answer)
    if run:  # /api/read?model= (empty) reads with the default model
        status, answer = call("POST", "/api/read", b"GIF89a", model=run)
        assert status == 404 and words in answer["error"]


def test_damaged_and_linked_runs_are_404_with_the_reason(damaged_runs, damaged_reasons):
    for name, reason in damaged_reasons.items():
        status, answer = call("GET", f"/v1/models/{name}")
        assert status == 404 and reason in answer["error"], (name, answer)
        assert predict({"instances": [ZEROS]}, run=name)[0] == 404


def test_wrong_addresses_and_methods(shipped_models_env):
    assert call("POST", "/v1/models/default")[0] == 405
    assert call("DELETE", "/v1/models/default/metadata")[0] == 405
    assert call("GET", "/v1/models/default:predict") == (
        405,
        {"error": "GET is not allowed here; use POST."},
    )
    assert call("GET", "/api/read")[0] == 405
    assert call("GET", "/v1/models/default/versions/2")[0] == 404
    assert call("GET", "/v1/models/default:classify")[0] == 404
    assert call("GET", "/v1/models/a/b/c")[0] == 404
    assert call("GET", "/v1/elsewhere")[0] == 404
    assert api.handle({}) == (404, {"error": "No such address:"})


def test_awkward_pictures_as_on_the_draw_page(shipped_models_env, odd_uploads):
    assert call("POST", "/api/read", b"")[0] == 400
    for name, data, expected in odd_uploads:
        status, answer = call("POST", "/api/read", data)
        if expected == "error":
            assert status == 400 and list(answer) == ["error"], (name, answer)
            assert "<bytes>" not in answer["error"] and "\n" not in answer["error"]
        else:
            assert (status, answer["digit"]) == (200, expected), (name, answer)


def test_a_bug_is_caught_logged_and_answered_in_one_line(shipped_models_env, monkeypatch, caplog):
    def broken(*args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(api, "model_status", broken)
    assert call("GET", "/v1/models/default") == (
        400,
        {"error": "The request could not be served (ZeroDivisionError)."},
    )
    assert "boom" in caplog.text


def test_model_ready_says_whether_an_answer_needs_a_model_load(shipped_models_env):
    api.MODELS.clear()
    assert not api.model_ready("/v1/models/default:predict")
    assert not api.model_ready("/api/read", {"model": "default"})
    assert api.model_ready("/v1/models/no-such-run:predict")  # refused before any load
    assert api.model_ready("/v1/models/../etc:predict")
    assert api.model_ready("/nowhere")
    api.MODELS.get(shipped_models_env / "default" / "model.keras")
    assert api.model_ready("/v1/models/default:predict")
    assert api.model_ready("/v1/models/default/metadata")
    assert api.model_ready("/api/read", {})  # the default run
