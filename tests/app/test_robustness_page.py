"""The Robustness page (pages/robustness.py): kept figures shown at once, missing ones measured."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from mnist_core import robustness

ROOT = Path(__file__).resolve().parents[2]


def robustness_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "robustness.py"), default_timeout=120)


def test_kept_figures_are_shown_with_bars_examples_and_mistakes(shipped_models_env):
    at = robustness_page().run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert labels == ["Test set as it is", "Mean over the changes", "Hardest"]
    kept = robustness.cached(shipped_models_env / "default" / "model.keras", 10_000)
    assert at.metric[1].value == f"{kept.mean('app'):.2%}"
    assert at.get("plotly_chart")
    captions = [c for image in at.image for c in image.captions]
    assert "Crossed out" in captions and "As it is" in captions
    mistakes = [c.split(" · ") for c in captions if c.startswith("true ")]  # the gallery
    assert mistakes and all(t != f"true {r[len('read ') :]}" for t, r in mistakes)  # all misread

    at.selectbox(key="robustness_corruption").set_value("inversion")
    at.radio(key="robustness_path").set_value("model").run()
    assert not at.exception
    assert any("read wrong" in c.value for c in at.caption)


def test_a_model_without_figures_is_measured_on_request(own_models, monkeypatch):
    own_models()
    monkeypatch.setattr(robustness, "for_model", _small(robustness.for_model))
    at = robustness_page().run()
    assert not at.exception and not at.metric
    assert any("not been measured yet" in info.value for info in at.info)
    at.button[0].click().run()
    assert not at.exception
    assert [m.label for m in at.metric][:2] == ["Test set as it is", "Mean over the changes"]


def _small(for_model):
    def measure_few(model_path, **kwargs):
        return for_model(model_path, **{**kwargs, "images": 20})

    return measure_few
