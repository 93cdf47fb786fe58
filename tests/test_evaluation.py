"""Tests for mnist_core.evaluation: hand-computed metrics on 8 examples, edge cases, and a
cross-check against a pure-Python reference on random data."""

from __future__ import annotations

import io
import json
from fractions import Fraction as Fr
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_core.evaluation import NUM_CLASSES, evaluate, score


def one_hot_like(y_pred, confidence) -> np.ndarray:
    """Probabilities (N, 10) whose argmax is y_pred and whose max is confidence (> 0.1)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    p = np.repeat(((1 - confidence) / (NUM_CLASSES - 1))[:, None], NUM_CLASSES, axis=1)
    p[np.arange(len(y_pred)), y_pred] = confidence
    return p


# Eight examples over digits 0..2. Confusion (rows true, columns predicted):
#   true 0: [2, 1, 0]   true 1: [0, 1, 1]   true 2: [0, 0, 3]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 2])
CONF = np.array([0.9, 0.6, 0.7, 0.95, 0.5, 0.8, 0.99, 0.65])


@pytest.fixture
def small():
    return evaluate(one_hot_like(Y_PRED, CONF), Y_TRUE)


def close(actual, expected) -> bool:
    return np.allclose(np.asarray(actual, dtype=float), np.asarray([float(e) for e in expected]))


def test_hand_computed_metrics(small):
    assert small.accuracy == pytest.approx(6 / 8)
    assert small.y_pred.tolist() == Y_PRED.tolist()
    assert small.confidence == pytest.approx(CONF)
    expected_confusion = np.zeros((10, 10), dtype=np.int64)
    expected_confusion[:3, :3] = [[2, 1, 0], [0, 1, 1], [0, 0, 3]]
    assert small.confusion.dtype == np.int64
    assert (small.confusion == expected_confusion).all()

    # precision = TP / predicted, recall = TP / true, F1 = 2PR / (P + R)
    assert close(small.precision[:3], [Fr(2, 2), Fr(1, 2), Fr(3, 4)])
    assert close(small.recall[:3], [Fr(2, 3), Fr(1, 2), Fr(3, 3)])
    assert close(small.f1[:3], [Fr(4, 5), Fr(1, 2), Fr(6, 7)])
    assert small.support.tolist() == [3, 2, 3] + [0] * 7
    assert (small.precision[3:] == 0).all() and (small.f1[3:] == 0).all()

    # Macro over the digits present (0, 1, 2), as scikit-learn does; weighted by support 3, 2, 3.
    assert small.macro["precision"] == pytest.approx(float((Fr(1) + Fr(1, 2) + Fr(3, 4)) / 3))
    assert small.macro["recall"] == pytest.approx(float(Fr(13, 18)))
    assert small.macro_f1 == pytest.approx(float(Fr(151, 210)))
    assert small.weighted["precision"] == pytest.approx(float(Fr(25, 32)))
    assert small.weighted["recall"] == pytest.approx(
        small.accuracy
    )  # always true of weighted recall
    assert small.weighted_f1 == pytest.approx(float(Fr(209, 280)))


def test_perfect_classifier():
    y = np.arange(50) % 10
    ev = evaluate(one_hot_like(y, np.full(50, 0.9)), y)
    assert ev.accuracy == 1.0 and ev.macro_f1 == 1.0 and ev.weighted_f1 == 1.0
    assert (ev.confusion == np.diag(np.full(10, 5))).all()
    assert ev.misclassified().size == 0


def test_class_never_predicted_has_zero_precision():
    # Digit 3 occurs but is always read as 8: precision 0/0 -> 0, recall 0/2 = 0.
    y_true = np.array([3, 3, 8, 1])
    y_pred = np.array([8, 8, 8, 1])
    ev = evaluate(one_hot_like(y_pred, [0.8] * 4), y_true)
    assert ev.precision[3] == 0 and ev.recall[3] == 0 and ev.f1[3] == 0
    assert ev.precision[8] == pytest.approx(1 / 3) and ev.recall[8] == 1.0
    assert np.isfinite(ev.precision).all()


def test_cell_indices_most_confident_first(small):
    assert small.cell(0, 1).tolist() == [2]
    assert small.cell(2, 2).tolist() == [6, 5, 7]  # confidence 0.99, 0.8, 0.65
    assert small.cell(5, 5).size == 0


def test_cells_match_brute_force():
    rng = np.random.default_rng(1)
    probs, y = rng.random((300, 10)), rng.integers(0, 10, 300)
    ev = evaluate(probs, y)
    for t in range(10):
        for p in range(10):
            expected = [i for i in range(300) if y[i] == t and probs[i].argmax() == p]
            got = ev.cell(t, p)
            assert sorted(got.tolist()) == expected
            assert len(got) == ev.confusion[t, p]
            assert (np.diff(ev.confidence[got]) <= 0).all()


def test_misclassified_sorted_by_confidence(small):
    assert small.misclassified().tolist() == [2, 4]  # confidence 0.7 then 0.5
    rng = np.random.default_rng(2)
    probs, y = rng.random((500, 10)), rng.integers(0, 10, 500)
    ev = evaluate(probs, y)
    wrong = ev.misclassified()
    assert sorted(wrong.tolist()) == [i for i in range(500) if probs[i].argmax() != y[i]]
    assert (np.diff(ev.confidence[wrong]) <= 0).all()


def test_to_dict_is_json_ready(small):
    d = small.to_dict()
    json.dumps(d)  # plain Python types only
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "n",
        "per_class",
        "macro_avg",
        "weighted_avg",
        "confusion_matrix",
        "misclassified_count",
    ):
        assert key in d
    assert d["n"] == 8 and d["misclassified_count"] == 2
    assert type(d["accuracy"]) is float and type(d["n"]) is int
    assert len(d["per_class"]) == 10
    assert d["per_class"][2] == {
        "digit": 2,
        "precision": 0.75,
        "recall": 1.0,
        "f1": pytest.approx(6 / 7),
        "support": 3,
    }
    assert set(d["macro_avg"]) == {"precision", "recall", "f1"}
    assert sum(map(sum, d["confusion_matrix"])) == 8


def test_tables_and_csv(small):
    table = small.per_class_table()
    assert list(table.columns) == ["digit", "precision", "recall", "f1", "support"]
    assert table["digit"].tolist() == list(range(10)) and table["support"].dtype == np.int64
    averages = small.averages_table()
    assert averages["average"].tolist() == ["macro avg", "weighted avg"]

    csv = pd.read_csv(io.StringIO(small.metrics_csv()), keep_default_na=False)
    assert list(csv.columns) == ["label", "precision", "recall", "f1", "support"]
    assert csv["label"].tolist() == [str(d) for d in range(10)] + [
        "macro avg",
        "weighted avg",
        "accuracy",
    ]
    accuracy = csv[csv["label"] == "accuracy"].iloc[0]
    assert float(accuracy["f1"]) == pytest.approx(0.75) and accuracy["precision"] == ""
    assert float(csv.loc[0, "recall"]) == pytest.approx(2 / 3, abs=1e-6)


def test_result_is_read_only_and_independent_of_inputs():
    probs, y = one_hot_like(Y_PRED, CONF), Y_TRUE.copy()
    ev = evaluate(probs, y)
    with pytest.raises(ValueError):
        ev.confusion[0, 0] = 99
    probs[:] = 0
    y[:] = 9
    assert ev.accuracy == 0.75 and ev.y_true.tolist() == Y_TRUE.tolist()


def test_accepts_float32_and_uint8():
    ev = evaluate(one_hot_like(Y_PRED, CONF).astype(np.float32), Y_TRUE.astype(np.uint8))
    assert ev.accuracy == 0.75 and ev.y_true.dtype == np.int64


@pytest.mark.parametrize(
    "probs, labels, message",
    [
        (np.zeros((4, 9)), np.zeros(4, int), "shape"),
        (np.zeros(10), np.zeros(1, int), "shape"),
        (np.zeros((4, 10)), np.zeros((4, 1), int), "y_true must have shape"),
        (np.zeros((4, 10)), np.zeros(3, int), "4 rows of probabilities but 3 labels"),
        (np.zeros((0, 10)), np.zeros(0, int), "no examples"),
        (np.zeros((2, 10)), np.array([0, 10]), "found 10"),
        (np.zeros((2, 10)), np.array([-1, 0]), "found -1"),
        (np.zeros((2, 10)), np.array([0.0, 1.0]), "integers"),
        (np.full((2, 10), np.nan), np.array([0, 1]), "NaN"),
    ],
)
def test_invalid_inputs(probs, labels, message):
    with pytest.raises(ValueError, match=message) as info:
        evaluate(probs, labels)
    assert "\n" not in str(info.value)


def test_cell_rejects_non_digits(small):
    for bad in (10, -1, 2.0, True):
        with pytest.raises(ValueError):
            small.cell(bad, 0)


def reference(probs, y):
    """Pure-Python metrics, one example at a time: the definitions written out."""
    n = len(y)
    pred = [max(range(10), key=lambda c: probs[i][c]) for i in range(n)]
    conf = [[0] * 10 for _ in range(10)]
    for t, p in zip(y, pred):
        conf[t][p] += 1
    out = {
        "confusion": conf,
        "accuracy": sum(t == p for t, p in zip(y, pred)) / n,
        "precision": [],
        "recall": [],
        "f1": [],
        "present": [],
    }
    for c in range(10):
        tp = conf[c][c]
        true_c = sum(conf[c])
        pred_c = sum(conf[r][c] for r in range(10))
        prec = tp / pred_c if pred_c else 0.0
        rec = tp / true_c if true_c else 0.0
        out["precision"].append(prec)
        out["recall"].append(rec)
        out["f1"].append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        out["present"].append(true_c + pred_c > 0)
        out.setdefault("support", []).append(true_c)
    for m in ("precision", "recall", "f1"):
        present = [v for v, keep in zip(out[m], out["present"]) if keep]
        out["macro_" + m] = sum(present) / len(present)
        out["weighted_" + m] = sum(v * s for v, s in zip(out[m], out["support"])) / n
    return out


@pytest.mark.parametrize("digits", [10, 8])  # 8: digits 8 and 9 absent from labels and predictions
def test_matches_pure_python_reference(digits):
    rng = np.random.default_rng(digits)
    n = 2000
    y = rng.integers(0, digits, n)
    probs = rng.random((n, 10))
    probs[:, digits:] = 0
    probs[np.arange(n), y] += rng.random(n) * 0.8  # a better-than-chance "model"
    ev = evaluate(probs, y)
    ref = reference(probs.tolist(), y.tolist())
    assert ev.confusion.tolist() == ref["confusion"]
    assert ev.accuracy == pytest.approx(ref["accuracy"])
    for m in ("precision", "recall", "f1"):
        assert np.allclose(getattr(ev, m), ref[m])
        assert ev.macro[m] == pytest.approx(ref["macro_" + m])
        assert ev.weighted[m] == pytest.approx(ref["weighted_" + m])
    assert ev.support.tolist() == ref["support"]


# --------------------------------------------------------------------------- against scikit-learn

SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "default" / "model.keras"


@pytest.fixture(scope="module")
def shipped_test_probabilities(mnist):
    """The shipped model's output on the 10,000 MNIST test images (one model load)."""
    from mnist_core.data import normalise
    from mnist_core.inference import Predictor, load_model

    return Predictor(load_model(SHIPPED_MODEL)).predict_batch(normalise(mnist.x_test))


def assert_matches_sklearn(ev, y_true, y_pred) -> None:
    """Every number of `ev` against scikit-learn's, to 1e-12 (counts exactly)."""
    from sklearn import metrics

    labels = list(range(NUM_CLASSES))
    assert ev.y_pred.tolist() == list(y_pred)
    assert np.array_equal(ev.confusion, metrics.confusion_matrix(y_true, y_pred, labels=labels))
    assert ev.accuracy == pytest.approx(metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    np.testing.assert_allclose(ev.precision, precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.recall, recall, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.f1, f1, rtol=0, atol=1e-12)
    assert ev.support.tolist() == support.tolist()
    for average, ours in (("macro", ev.macro), ("weighted", ev.weighted)):
        # No `labels`: scikit-learn averages over the digits seen in y_true or y_pred.
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        assert ours == pytest.approx({"precision": p, "recall": r, "f1": f}, abs=1e-12), average
    f1_macro = metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)
    f1_weighted = metrics.f1_score(y_true, y_pred, average="weighted", zero_division=0)
    assert ev.macro_f1 == pytest.approx(f1_macro, abs=1e-12)
    assert ev.weighted_f1 == pytest.approx(f1_weighted, abs=1e-12)


def test_the_shipped_model_scores_as_sklearn_says(shipped_test_probabilities, mnist):
    probabilities = shipped_test_probabilities
    ev = evaluate(probabilities, mnist.y_test)
    assert_matches_sklearn(ev, mnist.y_test, probabilities.argmax(axis=1))
    assert ev.accuracy > 0.99  # the shipped model, really: a real spread of mistakes
    assert np.count_nonzero(ev.confusion - np.diag(np.diag(ev.confusion))) >= 10


def test_digits_never_predicted_match_sklearn_zero_division():
    """Digits 7, 8 and 9 are never predicted (precision 0/0); 6 is predicted but never the
    true digit (recall 0/0); 5 appears in neither (left out of the macro average)."""
    rng = np.random.default_rng(7)
    y_true = rng.choice([0, 1, 2, 3, 4, 7, 8, 9], 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.choice([0, 1, 2, 3, 4, 6], 300))
    y_pred = np.where(np.isin(y_pred, [7, 8, 9]), rng.choice([0, 6], 300), y_pred)
    assert set(np.unique(y_pred)) == {0, 1, 2, 3, 4, 6}
    ev = evaluate(one_hot_like(y_pred, np.full(300, 0.9)), y_true)
    assert_matches_sklearn(ev, y_true, y_pred)
    assert (ev.precision[[5, 7, 8, 9]] == 0).all() and ev.recall[6] == 0 and ev.f1[5] == 0


def test_score_calibrates_with_the_predictors_temperature():
    """The confidences Evaluate shows are those Draw shows: softened by the run's temperature;
    the answers, and so every count, stay."""
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (50, 10))
    raw = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 50)

    class Fixed:
        def __init__(self, temperature):
            self.temperature = temperature

        def predict_batch(self, x):
            assert len(x) == 50
            return raw.astype(np.float32)

    plain, warm = score(Fixed(1.0), images, labels), score(Fixed(2.0), images, labels)
    assert np.array_equal(plain.y_pred, warm.y_pred) and plain.accuracy == warm.accuracy
    soft = np.sqrt(raw) / np.sqrt(raw).sum(axis=1, keepdims=True)  # T = 2: p ** (1 / 2)
    assert np.allclose(warm.confidence, soft.max(axis=1), atol=1e-6)
    assert (warm.confidence < plain.confidence).all()
