"""The Home page, run through the real entry point (its page links need st.navigation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds: the first run imports TensorFlow and loads MNIST


@pytest.fixture
def home(models_env) -> AppTest:
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()


def captions(at: AppTest) -> list[str]:
    """The captions of the sample digits (the other pictures have none)."""
    return [caption for image in at.image for caption in image.captions if caption]


def test_home_shows_the_dataset_the_samples_and_the_shipped_model(home):
    assert not home.exception
    metrics = {m.label: m.value for m in home.metric}
    assert metrics["Training pictures"] == "60,000" and metrics["Test pictures"] == "10,000"
    assert metrics["Test accuracy"].endswith("%")  # the tiny "default" run of the fixture
    assert len(captions(home)) == 40
    assert set(captions(home)) <= {str(d) for d in range(10)}
    # Two pictures besides the samples: the class balance (SVG) and the mean digits, with
    # the extremes of the balance in words; no Plotly chart (see figures.class_balance_svg).
    assert len(home.image) == 42 and not home.get("plotly_chart")
    assert any(
        "Training pictures per digit run from 5,421 (digit 5) to 6,742 (digit 1)" in c.value
        for c in home.caption
    )
    assert not home.error and not home.warning
    # Where the pictures came from, in words: whichever source this machine's tests used
    # (the local mirror, the cache or a download), its technical name only in the help.
    from mnist_core.data import load_mnist

    kind = load_mnist().source.split(" (")[0]
    words = {
        "MNIST_DATA_DIR": "prepared by whoever runs this server",
        "cache": "saved on this server at an earlier visit",
        "Keras download": "downloaded from the Keras library's copy",
        "npm package": "downloaded from a published copy",
    }
    [source] = [c for c in home.caption if "original MNIST pictures" in c.value]
    [said] = [w for start, w in words.items() if kind.startswith(start)]
    assert said in source.value and kind not in source.value and kind in source.help


def test_digit_filter_shows_only_that_digit_and_shuffle_shows_others(home):
    home.segmented_control(key="home_digit").set_value("3").run()
    assert not home.exception
    first = [image.value for image in home.image]
    assert captions(home) == ["3"] * 40
    home.button[0].click().run()  # Shuffle
    assert captions(home) == ["3"] * 40
    assert [image.value for image in home.image] != first
    home.segmented_control(key="home_digit").set_value("All").run()
    assert len(set(captions(home))) > 1


def test_a_missing_shipped_model_is_said_plainly(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("ready-made model is missing" in w.value for w in at.warning)
    assert len(captions(at)) == 40  # the rest of the page still works


def test_home_links_to_the_inside_page(home):
    links = [link.proto for link in home.get("page_link") if link.proto.page == "inside"]
    assert [link.label for link in links] == ["Inside", "Look inside it"]
