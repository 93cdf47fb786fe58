"""A test image opened on the Draw page from Evaluate's galleries (pages/draw_test_image.py):
each model's reading of exactly that image, checked against Keras' own predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


@pytest.fixture(scope="module")
def predicted(keras_test_probabilities):
    """The tiny default model's answer for every test image, by Keras alone."""
    return keras_test_probabilities.argmax(axis=1)


def _draw(test: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/draw.py")
    at.query_params.update({"test_image": test, **query})
    return at.run()


def _readings(at: AppTest):
    [table] = [d for d in at.dataframe if "Top 3" in d.value.columns]
    return table.value


def test_a_mistake_opens_with_the_models_reading(own_models, predicted, mnist):
    own_models("second", started_at="2000-01-01T00:00:00+00:00")
    index = int(np.flatnonzero(predicted != mnist.y_test)[0])
    at = _draw(str(index), run="default")
    assert not at.exception and not at.error
    assert f"Test image {index:,}: a {mnist.y_test[index]}" in [s.value for s in at.subheader]
    readings = _readings(at)
    assert list(readings["Reads"]) == [predicted[index]] and list(readings["Right"]) == ["no"]
    [inside] = [link for link in at.get("page_link") if link.proto.page == "inside"]
    assert inside.proto.query_string == f"run=default&test={index}"

    # Compared with another model: one row more, the same image, and the page stays on it.
    at.multiselect(key="draw_compare").set_value(["second"]).run()
    assert not at.exception
    readings = _readings(at)
    assert len(readings) == 2 and list(readings["Reads"]) == [predicted[index]] * 2


def test_back_to_drawing_leaves_the_test_image(models_env):
    at = _draw("7")
    assert _readings(at) is not None
    at.button(key="draw_test_back").click().run()
    assert not at.exception and "test_image" not in at.query_params
    assert not [d for d in at.dataframe if "Top 3" in d.value.columns]


@pytest.mark.parametrize("bad", ["10000", "-1", "x", "٣"])
def test_a_bad_test_image_in_the_address_is_one_warning(models_env, bad):
    at = _draw(bad)
    assert not at.exception
    assert any("not a number from 0 to 9,999" in w.value for w in at.warning)
    assert "test_image" not in at.query_params
