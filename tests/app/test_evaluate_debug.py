"""Evaluate for people who debug models (pages/evaluate_debug.py): top three answers under
each gallery image, links into Inside and Draw, every mistake in one gallery, and another
run's confusion matrix beside this one's. The reference predicts with Keras and counts with
numpy, apart from mnist_core.evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pages import evaluate_debug

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


@pytest.fixture(scope="module")
def reference(tiny_models_dir, keras_test_probabilities):
    """The tiny default model's calibrated probabilities on the test set, by Keras and numpy."""
    from mnist_core import runs

    p = keras_test_probabilities
    t = runs.temperature_of(tiny_models_dir / "default" / "model.keras")
    p = np.maximum(p, 1e-30) ** (1 / t)
    return p / p.sum(axis=1, keepdims=True)


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    return at.switch_page("pages/evaluate.py")


def _query(link) -> dict[str, str]:
    return dict(part.split("=") for part in link.proto.query_string.split("&"))


def test_top3_names_the_three_likeliest_digits():
    p = np.array([0.01, 0.0, 0.27, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.71])
    assert evaluate_debug.top3(p) == "9 71% · 2 27% · 0 1%"  # a tie goes to the lower digit


def test_every_gallery_image_has_its_top3_and_both_links(models_env, reference, mnist):
    at = _page().run()
    assert not at.exception
    inside = [link for link in at.get("page_link") if link.proto.page == "inside"]
    draw = [link for link in at.get("page_link") if link.proto.page == "draw"]
    tops = [c.value for c in at.caption if c.value.startswith("Top 3: ")]
    assert inside and len(inside) == len(draw) == len(tops)
    for why, other, top in zip(inside, draw, tops):
        assert _query(other) == {"run": "default", "test_image": _query(why)["test"]}
        assert _query(why)["run"] == "default"
        row = reference[int(_query(why)["test"])]
        order = np.argsort(-row, kind="stable")[:3]
        assert top == "Top 3: " + " · ".join(f"{d} {row[d]:.0%}" for d in order)


def test_the_mistakes_gallery_holds_every_mistake_most_confident_first(
    models_env, reference, mnist
):
    wrong = np.flatnonzero(reference.argmax(axis=1) != mnist.y_test)
    at = _page().run()
    assert not at.exception
    assert f"All {len(wrong):,} mistakes" in [s.value for s in at.subheader]
    assert any(f"Mistakes 1–20 of {len(wrong):,}." == c.value for c in at.caption)
    # The last 20 "Why?" links are the mistakes' (the cell gallery comes first).
    shown = [
        int(_query(link)["test"]) for link in at.get("page_link") if link.proto.page == "inside"
    ]
    mistakes = shown[-20:]
    assert all(reference[i].argmax() != mnist.y_test[i] for i in mistakes)
    sureness = [reference[i].max() for i in mistakes]
    assert sureness == sorted(sureness, reverse=True)
    assert min(sureness) >= np.sort(reference[wrong].max(axis=1))[-20] - 1e-6  # the top 20

    at.selectbox(key="evaluate_mistakes_page_default").set_value(2).run()
    assert not at.exception
    assert any(c.value.startswith("Mistakes 21–40 of") for c in at.caption)


def test_difference_figure_is_the_other_minus_this():
    this = np.diag(np.full(10, 90))
    other = this.copy()
    other[4, 9], other[4, 4] = 5, 85
    figure = evaluate_debug.difference_figure(this, other, ("a", "b"))
    z = np.array(figure.data[0].z)
    assert z[4, 9] == 5 and z[4, 4] == -5 and np.count_nonzero(z) == 2
    assert figure.data[0].zmin == -5 and figure.data[0].zmax == 5


def test_another_runs_matrix_side_by_side_and_as_a_difference(own_models):
    own_models("second", started_at="2000-01-01T00:00:00+00:00")
    at = _page().run()
    assert not at.exception
    charts = len(at.get("plotly_chart"))
    at.selectbox(key="evaluate_other_run").set_value("second").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == charts + 2
    assert any(c.value.startswith("second: ") for c in at.caption)
    at.segmented_control(key="evaluate_other_view").set_value("Difference").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == charts + 1
    # The copy is the same model: it reads exactly as many test images right.
    said = "second reads 0 test images more right than " + evaluate_debug.as_text(
        "default (shipped)"
    )
    assert said + "." in [c.value for c in at.caption]


def test_a_chosen_name_is_shown_as_typed():
    name = "My *best* <b>run</b> :smile: $x$ [link](y)"
    escaped = evaluate_debug.as_text(name)
    assert escaped.replace("\\", "") == name  # only backslashes were added
    assert all(escaped[i - 1] == "\\" for i, ch in enumerate(escaped) if ch in "*<>:$[]()")
    assert evaluate_debug.plotly_text(name).count("<") == 0
