"""The Evaluate page through Streamlit's AppTest, its numbers checked against numpy.

The reference below predicts with Keras directly and counts with numpy, independently of
`mnist_core.evaluation` and the page's cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90  # the first run imports TensorFlow and evaluates 10,000 images


def _page() -> AppTest:
    """The Evaluate page, run through the entry point: its gallery links to the Inside page,
    and a page link needs the pages st.navigation registers."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    return at.switch_page("pages/evaluate.py")


def _click_matrix(at: AppTest, *points: dict) -> AppTest:
    """Send the confusion matrix the selection a browser sends when `points` are clicked
    (none: the selection cleared), then rerun, as Streamlit does after a chart selection.

    AppTest has no method for chart selections, so the chart's widget state is added to the
    others by hand (the JSON a browser sends), and the run goes through AppTest._run.
    """
    [chart] = [c for c in at.get("plotly_chart") if c.proto.id and "confusion" in c.proto.id]
    states = chart.root.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps(
        {
            "selection": {
                "points": list(points),
                "point_indices": [p["point_index"] for p in points if "point_index" in p],
                "box": [],
                "lasso": [],
            }
        }
    )
    return at._run(states)


def _shown_cell(at: AppTest) -> str:
    [heading] = [s for s in _subheaders(at) if " images: true " in s]
    return heading


@pytest.fixture(scope="module")
def reference(tiny_models_dir, mnist):
    """Accuracy and confusion matrix of the tiny default model, by Keras and numpy alone."""
    import keras

    model = keras.models.load_model(tiny_models_dir / "default" / "model.keras")
    x = mnist.x_test.astype(np.float32)[..., None] / 255.0
    predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (mnist.y_test, predicted), 1)
    return {
        "accuracy": float((predicted == mnist.y_test).mean()),
        "confusion": confusion,
        "predicted": predicted,
    }


def _subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_page_shows_the_metrics_and_the_worst_cell(models_env, reference):
    at = _page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{reference['accuracy']:.2%}"
    wrong = int(reference["confusion"].sum() - np.trace(reference["confusion"]))
    assert metrics["Misclassified"] == f"{wrong:,}"
    assert len(at.dataframe) == 3  # layers, per digit, averages

    # With nothing clicked, the gallery shows the commonest mistake.
    off = reference["confusion"].copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(off.argmax(), off.shape)
    assert f"{off[t, p]:,} images: true {t}, predicted {p}" in _subheaders(at)
    assert "Learning curves" in _subheaders(at)
    assert len(at.get("download_button")) == 4  # .keras, SavedModel, .tflite, metrics


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
    captions = captions[: min(int(confusion[t, p]), 20)]  # the mistakes gallery follows
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
    pages = at.selectbox(key="evaluate_page_default_1_1")
    assert pages.options[-1].endswith(f"of {len(pages.options)}")  # only pages that exist
    pages.set_value(2).run()
    assert not at.exception
    assert any(f"Images 21–40 of {count:,}" in c.value for c in at.caption)


def test_clicking_a_cell_of_the_matrix_shows_its_images(models_env, reference):
    confusion = reference["confusion"]
    off = confusion.copy()
    np.fill_diagonal(off, -1)
    worst = tuple(int(i) for i in np.unravel_index(off.argmax(), off.shape))  # shown first
    off[worst] = -1
    second = tuple(int(i) for i in np.unravel_index(off.argmax(), off.shape))
    by_index = next(c for c in [(8, 5), (4, 9), (9, 4)] if c not in (worst, second))

    def heading(cell):
        return f"{confusion[cell]:,} images: true {cell[0]}, predicted {cell[1]}"

    at = _page().run()
    assert not at.exception and _shown_cell(at) == heading(worst)  # nothing clicked yet

    # A click as a browser reports it: the point carries [true, predicted, count].
    t, p = second
    point = {"curve_number": 0, "point_number": 10 * t + p, "point_index": 10 * t + p}
    _click_matrix(at, {**point, "x": p, "y": t, "customdata": [t, p, int(confusion[t, p])]})
    assert not at.exception and _shown_cell(at) == heading(second)

    # Without customdata the cell comes from the point's index (row-major over 10 x 10).
    _click_matrix(at, {"point_index": 10 * by_index[0] + by_index[1]})
    assert not at.exception and _shown_cell(at) == heading(by_index)

    # Clearing the selection (a click beside the points) keeps the cell that was shown. (The
    # outline is part of the chart, so a chart showing another cell is a new, unselected
    # widget: the shown cell is clicked again first, leaving the chart as it was, selected.)
    _click_matrix(at, {"point_index": 10 * by_index[0] + by_index[1]})
    _click_matrix(at)
    assert not at.exception and _shown_cell(at) == heading(by_index)


def test_every_gallery_image_links_to_the_inside_page(models_env, reference, mnist):
    """Each image of the gallery has a link to the Inside page naming this run and exactly
    that test image (checked against Keras' own predictions)."""
    at = _page().run()
    assert not at.exception
    off = reference["confusion"].copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(off.argmax(), off.shape)  # the cell shown first
    links = [link for link in at.get("page_link") if link.proto.page == "inside"]
    links = links[: min(20, reference["confusion"][t, p])]  # the mistakes gallery follows
    shown = []
    for link in links:
        query = dict(part.split("=") for part in link.proto.query_string.split("&"))
        assert link.proto.label == "Why?" and query["run"] == "default"
        shown.append(int(query["test"]))
    assert len(set(shown)) == len(shown)
    assert all(mnist.y_test[i] == t and reference["predicted"][i] == p for i in shown)


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


@pytest.mark.parametrize("name", ["started-123", "params-x", "linked", "passwd"])
def test_a_damaged_run_in_the_address_is_explained_and_another_shown(
    damaged_runs, damaged_reasons, name
):
    at = _page()
    at.query_params["run"] = name
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="evaluate_run").value.id == "default" and at.metric
    offered = [option.split(" ")[0] for option in at.selectbox(key="evaluate_run").options]
    assert name not in offered
    warning = " ".join(w.value for w in at.warning)
    if name == "passwd":  # its run.json is fine, its model is refused: not offered at all
        assert "not available" in warning
    else:
        assert damaged_reasons[name] in warning


def test_the_runs_network_is_shown_with_a_link_to_train_it_again(models_env):
    at = _page().run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    # The tiny default run (conftest.py) is seed-mlp-dropout.
    assert "Network: Flatten → Dense 128 relu → Dropout 0.2 → Dense 10 softmax" in captions
    [link] = [e for e in at.get("page_link") if e.proto.label == "Train again with changes"]
    assert link.proto.page == "train" and link.proto.query_string == "from=default"


def test_every_metric_and_column_says_what_it_is(models_env):
    """Plain words: a one-sentence help on each metric, and on each column of the per-digit
    table and the averages (precision, recall, F1, macro and weighted)."""
    import json as _json

    at = _page().run()
    assert not at.exception and at.metric and all(m.help for m in at.metric)
    scores = [f for f in at.dataframe if "precision" in f.value.columns]
    assert len(scores) == 2  # per digit, and the two averages
    for frame in scores:
        columns = _json.loads(frame.proto.columns)
        shown = [c for c in frame.value.columns if c in columns]
        assert shown and all(columns[c].get("help") for c in shown), columns
