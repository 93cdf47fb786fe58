"""digit_check: the shipped detector's verdict on shapes drawn here and on real digits, its
numpy forward pass against Keras, and the calibration helpers against hand computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import digit_check, preprocess, runs
from mnist_core.data import normalise, split_train_val
from mnist_core.training import MIN_VALIDATION_ERRORS, validation_temperature

CANVAS = 280


def canvas(*strokes, width: int = 18) -> np.ndarray:
    """RGBA uint8 (280, 280, 4): white strokes (lists of points) on a transparent canvas, the
    way the Draw page's canvas sends a drawing."""
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(ink)
    for points in strokes:
        pen.line(points, fill=255, width=width, joint="curve")
        for x, y in points:  # round caps, as a browser's pen
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    alpha = np.asarray(ink)
    return np.dstack([np.full_like(alpha, 255)] * 3 + [alpha])


def verdict(picture) -> bool:
    return digit_check.is_digit(preprocess.to_mnist(picture))


# Shapes a learner might draw to test the app, none of them a digit.
LINE = [(40, 150), (240, 135)]
X = ([(60, 60), (220, 220)], [(220, 60), (60, 220)])
SCRIBBLE = [
    (60, 80),
    (200, 200),
    (90, 210),
    (210, 70),
    (70, 140),
    (230, 150),
    (120, 60),
    (150, 230),
]
HASH = (
    [(50, 110), (230, 110)],
    [(50, 170), (230, 170)],
    [(110, 50), (110, 230)],
    [(170, 50), (170, 230)],
)


@pytest.mark.parametrize(
    "name, strokes",
    [("line", [LINE]), ("X", X), ("scribble", [SCRIBBLE]), ("hash", HASH)],
)
def test_drawings_that_are_not_digits_are_flagged(name, strokes):
    assert not verdict(canvas(*strokes)), name


def test_noise_is_flagged():
    rng = np.random.default_rng(0)
    ink = np.zeros((CANVAS, CANVAS), np.uint8)
    ink[60:220, 60:220] = (rng.random((160, 160)) < 0.15) * 255  # salt on a square
    assert not verdict(np.dstack([np.full_like(ink, 255)] * 3 + [ink]))


def test_digits_drawn_with_strokes_pass():
    one = canvas([(140, 40), (143, 240)])  # the browser tests' strokes (tests/e2e)
    seven = canvas([(70, 60), (210, 60), (120, 230)])
    four = canvas([(150, 40), (60, 170), (220, 170)], [(180, 100), (180, 250)])
    assert verdict(one) and verdict(seven) and verdict(four)


def test_mnist_test_digits_pass(mnist):
    """The first 1,000 test digits as the model takes them, and as uploaded pictures."""
    x = mnist.x_test[:1000]
    flagged = ~(digit_check.not_digit_scores(x / 255.0) < digit_check.detector().threshold)
    assert flagged.sum() <= 5  # 0.5%, the figure to reach on all 10,000
    uploaded = np.stack([preprocess.to_mnist(d) for d in x[:200]])
    assert sum(not digit_check.is_digit(u) for u in uploaded) <= 1


def test_scores_are_in_0_1_and_match_one_at_a_time(mnist):
    x = mnist.x_test[:50] / 255.0
    scores = digit_check.not_digit_scores(x)
    assert scores.shape == (50,) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    check = digit_check.detector()
    for i in (0, 17, 49):
        assert digit_check.is_digit(x[i]) == (scores[i] < check.threshold)
    np.testing.assert_allclose(check.scores(x, batch_size=7), scores, atol=1e-6)


def test_the_numpy_forward_pass_is_the_keras_models():
    import keras

    keras.utils.set_random_seed(3)
    model = digit_check.build_model()
    x = np.random.default_rng(1).random((9, 28, 28)).astype(np.float32)
    expected = model.predict(x[..., None], verbose=0)[:, 0]
    np.testing.assert_allclose(
        digit_check.forward(digit_check.weights_of(model), x), expected, atol=2e-6
    )


def test_the_shipped_detector_is_recorded_and_small():
    record = digit_check.record()
    assert record["threshold"] == pytest.approx(digit_check.detector().threshold)
    assert not set(record["data"]["never_trained_on"]) & set(record["data"]["families"])
    assert digit_check.WEIGHTS_FILE.stat().st_size < 1_000_000


# --------------------------------------------------------------------------- calibration


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_calibrate_is_softmax_of_logits_over_t():
    z = np.random.default_rng(0).normal(0, 4, (20, 10))
    for t in (0.5, 1.0, 2.5):
        np.testing.assert_allclose(
            digit_check.calibrate(softmax(z).astype(np.float32), t), softmax(z / t), atol=1e-5
        )
    p = softmax(z).astype(np.float32)
    assert digit_check.calibrate(p, 1.0) is p  # T = 1: untouched


def test_fit_temperature_recovers_a_known_temperature():
    """Labels drawn from softmax(z / 2.5): the fitted T of softmax(z) is near 2.5."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, (20000, 10))
    truth = softmax(z / 2.5)
    labels = (truth.cumsum(axis=1) < rng.random((20000, 1))).sum(axis=1)
    assert digit_check.fit_temperature(softmax(z), labels) == pytest.approx(2.5, rel=0.05)
    # Labels that always agree with the largest logit: sharpening helps, T < 1.
    assert digit_check.fit_temperature(softmax(z), z.argmax(axis=1)) < 1


def test_nll_by_hand():
    p = np.array([[0.5, 0.25, 0.25] + [0.0] * 7, [0.1] * 10])
    expected = (-math.log(0.5) - math.log(0.1)) / 2
    assert digit_check.nll(p, np.array([0, 3]), 1.0) == pytest.approx(expected)


def test_expected_calibration_error_by_hand():
    """Five predictions in three of 15 bins: (0.2), (0.55, 0.55), (0.95, 0.95)."""
    confidence = np.array([0.95, 0.95, 0.55, 0.55, 0.2])
    correct = np.array([True, False, True, True, False])
    # bin of 0.95: accuracy 1/2, confidence 0.95, 2 of 5; bin of 0.55: 1 vs 0.55, 2 of 5;
    # bin of 0.2: 0 vs 0.2, 1 of 5.
    expected = 0.4 * 0.45 + 0.4 * 0.45 + 0.2 * 0.2
    assert digit_check.expected_calibration_error(confidence, correct) == pytest.approx(expected)
    # Two bins: (0, 0.5] holds 0.2; (0.5, 1] holds the rest, accuracy 3/4, confidence 0.75.
    assert digit_check.expected_calibration_error(confidence, correct, bins=2) == pytest.approx(
        0.2 * 0.2 + 0.8 * abs(0.75 - 0.75)
    )
    assert digit_check.expected_calibration_error(np.ones(4), np.ones(4, bool)) == 0.0


def test_training_records_the_temperature_fitted_on_validation(tiny_models_dir, mnist):
    """The tiny run of conftest.py: run.json's temperature is the fit on its own validation
    images, recomputed here on the saved model."""
    from mnist_core.inference import Predictor

    run = runs.read_run(tiny_models_dir / "default")
    params = run.meta.params
    x = mnist.x_train[: params.train_limit]
    y = mnist.y_train[: params.train_limit]
    _, _, x_val, y_val = split_train_val(x, y, params.val_fraction, params.seed)
    predictor = Predictor.from_path(run.model_path)
    probabilities = predictor.predict_batch(normalise(x_val))
    assert (probabilities.argmax(axis=1) != y_val).sum() >= MIN_VALIDATION_ERRORS  # fitted
    expected = digit_check.fit_temperature(probabilities, y_val)
    assert run.meta.temperature == pytest.approx(expected, rel=1e-3)
    assert predictor.temperature == run.meta.temperature
    assert runs.temperature_of(run.path / "elsewhere.keras") == 1.0


def test_no_temperature_from_a_validation_set_read_almost_without_error():
    """Nothing to calibrate against: the fit would run to the smallest T ("100%" always)."""

    class Sure:  # a predictor right on every image but one
        def predict_batch(self, x):
            p = np.full((len(x), 10), 0.01, np.float32)
            p[:, 0] = 0.91
            return p

    labels = np.zeros(100, np.int64)
    labels[0] = 3
    x = np.zeros((100, 28, 28), np.uint8)
    assert validation_temperature(Sure(), x, labels) is None
    assert validation_temperature(Sure(), x[:0], labels[:0]) is None
    labels[:MIN_VALIDATION_ERRORS] = 3  # 95% right at 91% confidence: sharpened (T < 1)
    assert validation_temperature(Sure(), x, labels) < 1
    labels[:20] = 3  # 80% right at 91% confidence: softened
    assert validation_temperature(Sure(), x, labels) > 1


def test_a_bad_temperature_in_run_json_makes_the_run_unreadable(tmp_path):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r")
    raw = json.loads((run.path / "run.json").read_text())
    for bad in (-1.0, 0, "hot"):
        (run.path / "run.json").write_text(json.dumps({**raw, "temperature": bad}))
        assert "temperature" in runs.read_run(run.path).error
