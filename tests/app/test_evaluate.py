"""The Evaluate page through Streamlit's AppTest, its numbers checked against numpy.

The reference below predicts with Keras directly and counts with numpy, independently of
`mnist_core.evaluation` and the page's cache.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[2] / "pages" / "evaluate.py"
TIMEOUT = 90  # the first run imports TensorFlow and evaluates 10,000 images


def _page() -> AppTest:
    return AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)


def _page_function(name: str):
    """One function of the page, compiled on its own (importing the page would run it)."""
    tree = ast.parse(PAGE.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace: dict = {}
    exec(compile(ast.Module([node], []), str(PAGE), "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def reference(tiny_models_dir, mnist):
    """Accuracy and confusion matrix of the tiny default model, by Keras and numpy alone."""
    import keras

    model = keras.models.load_model(tiny_models_dir / "default" / "model.keras")
    x = mnist.x_test.astype(np.float32)[..., None] / 255.0
    predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (mnist.y_test, predicted), 1)
    return {"accuracy": float((predicted == mnist.y_test).mean()), "confusion": confusion}


def _subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_page_shows_the_metrics_and_the_worst_cell(models_env, reference):
    at = _page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{reference['accuracy']:.2%}"
    wrong = int(reference["confusion"].sum() - np.trace(reference["confusion"]))
    assert metrics["Misclassified"] == f"{wrong:,}"
    assert len(at.dataframe) == 2  # per digit, averages

    # With nothing clicked, the gallery shows the commonest mistake.
    off = reference["confusion"].copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(off.argmax(), off.shape)
    assert f"{off[t, p]:,} images: true {t}, predicted {p}" in _subheaders(at)
    assert "Learning curves" in _subheaders(at)
    assert len(at.get("download_button")) == 2


def test_a_selected_cell_shows_exactly_its_images(models_env, reference):
    confusion = reference["confusion"]
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1]
    t, p = np.unravel_index(order[1], off.shape)  # the second-worst: not the default cell
    at = _page()
    at.session_state["evaluate_cells"] = {"default": (int(t), int(p))}
    at.run()
    assert not at.exception
    assert f"{confusion[t, p]:,} images: true {t}, predicted {p}" in _subheaders(at)
    captions = [c for image in at.get("image") for c in image.captions]
    assert len(captions) == min(int(confusion[t, p]), 20)
    prefix = f"true {t} · predicted {p} · "
    assert all(c.startswith(prefix) for c in captions)
    sureness = [int(c[len(prefix) :].rstrip("%")) for c in captions]
    assert sureness == sorted(sureness, reverse=True)  # most confident first


def test_the_gallery_pages_through_a_big_cell(models_env, reference):
    count = int(reference["confusion"][1, 1])
    at = _page()
    at.session_state["evaluate_cells"] = {"default": (1, 1)}
    at.run()
    assert f"{count:,} images: true 1, predicted 1" in _subheaders(at)
    at.number_input(key="evaluate_page_default_1_1").set_value(2).run()
    assert not at.exception
    assert any(f"Images 21–40 of {count:,}" in c.value for c in at.caption)


def test_selection_parsing_reads_the_clicked_point():
    parse = _page_function("cell_from_selection")
    point = {
        "curve_number": 0,
        "point_number": 37,
        "point_index": 37,
        "x": 7,
        "y": 3,
        "customdata": [3, 7, 12],
    }
    assert parse({"points": [point], "point_indices": [37], "box": [], "lasso": []}) == (3, 7)
    assert parse({"points": [{"point_index": 85}]}) == (8, 5)  # no customdata: from the index
    assert parse({"points": [], "point_indices": []}) is None
    assert parse(None) is None


def test_the_run_in_the_address_is_chosen(own_models):
    own_models("20250101-000000-copy-0000", started_at="2025-01-01T00:00:00+00:00")
    at = _page()
    at.query_params["run"] = "20250101-000000-copy-0000"
    at.run()
    assert not at.exception
    assert at.selectbox(key="evaluate_run").value.id == "20250101-000000-copy-0000"


def test_a_damaged_model_file_is_one_line_of_error(own_models):
    (own_models() / "default" / "model.keras").write_bytes(b"not a model")
    at = _page().run()
    assert not at.exception
    assert len(at.error) == 1
    assert not at.metric


def test_no_model_yet_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "empty"))
    at = _page().run()
    assert not at.exception
    assert "No trained model yet" in at.warning[0].value
    assert not at.metric


def test_every_unloadable_model_is_one_line_and_the_page_goes_on(odd_model_runs):
    for kind in odd_model_runs:
        at = _page()
        at.query_params["run"] = kind
        at.run()
        assert not at.exception and not at.metric, kind
        [error] = at.error
        assert "\n" not in error.value and "model.keras" in error.value, error.value
        at.selectbox(key="evaluate_run").select_index(0).run()  # the default still evaluates
        assert not at.exception and not at.error
        assert {m.label for m in at.metric} >= {"Accuracy", "Macro F1"}


@pytest.mark.parametrize("address", ["../../etc", "../x", "default/../../etc/passwd"])
def test_a_made_up_run_in_the_address_is_ignored(models_env, address):
    at = _page()
    at.query_params["run"] = address
    at.run()
    assert not at.exception
    assert at.selectbox(key="evaluate_run").value.id == "default"
    assert any("not available" in w.value for w in at.warning)
    assert "run" not in at.query_params and at.metric
