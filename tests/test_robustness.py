"""mnist_core.robustness: the figures equal a direct computation, and are kept per model file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mnist_core import preprocess, robustness
from mnist_core.corruptions import CORRUPTIONS, corrupt
from mnist_core.data import normalise
from mnist_core.inference import Predictor

N = 60


@pytest.fixture(scope="module")
def shipped_model_path(shipped_models_dir):
    return shipped_models_dir / "default" / "model.keras"


@pytest.fixture(scope="module")
def shipped(shipped_model_path):
    return Predictor.from_path(shipped_model_path)


def test_figures_equal_a_direct_computation(mnist, shipped):
    x, y = mnist.x_test[:N], mnist.y_test[:N]
    result = robustness.measure(shipped, x, y)
    assert result.images == N and set(result.corrupted) == set(CORRUPTIONS)
    for name in ("rotation", "inversion", "line"):
        pictures = corrupt(name, x)
        alone = shipped.predict_batch(normalise(pictures)).argmax(axis=1)
        seen = [preprocess.to_mnist(p) for p in pictures]
        app = np.stack([np.zeros((28, 28)) if s is None else s for s in seen]).astype(np.float32)
        through = shipped.predict_batch(app).argmax(axis=1)
        assert result.corrupted[name]["model"].accuracy == pytest.approx((alone == y).mean())
        assert result.corrupted[name]["app"].accuracy == pytest.approx((through == y).mean())
        assert result.corrupted[name]["app"].wrong == list(np.flatnonzero(through != y))
    clean = shipped.predict_batch(normalise(x)).argmax(axis=1)
    assert result.clean["model"].accuracy == pytest.approx((clean == y).mean())
    assert result.mean("model") == pytest.approx(
        np.mean([s["model"].accuracy for s in result.corrupted.values()])
    )


def test_the_app_reads_inverted_digits_as_it_reads_them_upright(mnist, shipped):
    """The preprocessing turns dark-on-light back: inversion costs the app nothing (what the
    network alone makes of it depends on what it was trained on)."""
    result = robustness.measure(shipped, mnist.x_test[:N], mnist.y_test[:N])
    inverted = result.corrupted["inversion"]["app"]
    assert inverted.accuracy == result.clean["app"].accuracy
    assert inverted.wrong == result.clean["app"].wrong


def test_progress_is_reported_up_to_done(mnist, shipped):
    seen = []
    robustness.measure(shipped, mnist.x_test[:5], mnist.y_test[:5], lambda f, t: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_figures_are_kept_beside_the_model_and_reused(tmp_path, shipped_model_path, monkeypatch):
    model = tmp_path / "run" / "model.keras"
    model.parent.mkdir()
    shutil.copy(shipped_model_path, model)
    shutil.copy(shipped_model_path.with_suffix(".tflite"), model.with_suffix(".tflite"))
    first = robustness.for_model(model, images=20)
    kept = json.loads((model.parent / robustness.CACHE_NAME).read_text())
    assert kept["key"]["images"] == 20 and kept["figures"]["images"] == 20

    def refuse(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(robustness, "measure", refuse)
    again = robustness.for_model(model, images=20)
    assert again.to_json() == first.to_json()
    with pytest.raises(AssertionError, match="measured again"):  # another set: measured again
        robustness.for_model(model, images=10)
    model.write_bytes(model.read_bytes() + b"\0")  # another file: its figures are not these
    assert robustness.cached(model, 20) is None


def test_a_damaged_cache_is_measured_again(tmp_path, shipped_model_path):
    model = tmp_path / "model.keras"
    shutil.copy(shipped_model_path, model)
    shutil.copy(shipped_model_path.with_suffix(".tflite"), model.with_suffix(".tflite"))
    (tmp_path / robustness.CACHE_NAME).write_text("{not json")
    assert robustness.cached(model, 10) is None
    result = robustness.for_model(model, images=10, keep=False)
    assert result.images == 10 and robustness.cached(model, 10) is None  # keep=False: not written


def test_corrupted_copies_are_added_with_their_labels(mnist):
    x, y = mnist.x_train[:400], mnist.y_train[:400]
    more_x, more_y = robustness.corrupted_copies(x, y, 0.5, seed=3)
    assert more_x.shape == (600, 28, 28) and more_x.dtype == np.uint8 and len(more_y) == 600
    assert np.array_equal(more_x[:400], x) and np.array_equal(more_y[:400], y)
    again_x, again_y = robustness.corrupted_copies(x, y, 0.5, seed=3)
    assert np.array_equal(again_x, more_x) and np.array_equal(again_y, more_y)  # seeded
    copies = more_x[400:]
    originals = {x[i].tobytes(): y[i] for i in range(len(x))}
    assert not any(c.tobytes() in originals for c in copies)  # each one changed
    inverted = (copies.astype(float).mean(axis=(1, 2)) > 100).sum()  # inverted or photographed
    assert 0 < inverted < 60  # some, as raw pictures (the app-made half is white on black)


def test_no_share_adds_nothing(mnist):
    x, y = mnist.x_train[:50], mnist.y_train[:50]
    more_x, more_y = robustness.corrupted_copies(x, y, 0.0, seed=1)
    assert np.array_equal(more_x, x) and np.array_equal(more_y, y)
