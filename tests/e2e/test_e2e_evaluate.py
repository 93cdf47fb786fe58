"""Evaluate page in the browser: clicking a confusion-matrix cell opens exactly that cell's images.

The expected confusion matrix is computed here, another way than the app does (plain
`model.predict` and numpy), from the same model file the server uses.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.e2e.streamlit_page import FIRST_LOAD_MS, Page, expect, open_page, screenshot, wait_idle

PER_PAGE = 20  # pages/evaluate_debug.py: gallery images per page
CAPTION = re.compile(r"^true (\d) · predicted (\d) · \d+%$")


@pytest.fixture(scope="module")
def confusion(e2e_models_dir, mnist) -> np.ndarray:
    """(10, 10) int counts, rows true digit, columns predicted, of the default model."""
    import keras

    model = keras.saving.load_model(e2e_models_dir / "default" / "model.keras")
    x = (mnist.x_test.astype("float32") / 255.0).reshape((-1, *model.input_shape[1:]))
    predicted = model.predict(x, batch_size=1000, verbose=0).argmax(axis=1)
    counts = np.zeros((10, 10), dtype=np.int64)
    np.add.at(counts, (mnist.y_test, predicted), 1)
    return counts


def cell_to_click(confusion: np.ndarray) -> tuple[int, int]:
    """The off-diagonal cell with most images that is not the page's first pick (the largest)."""
    off = confusion.copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(-off.ravel(), kind="stable")  # argmax order: ties go to the first cell
    t, p = divmod(int(order[1]), 10)
    assert off[t, p] >= 1, "the model makes too few mistakes to pick a second cell"
    return t, p


def test_clicking_a_confusion_cell_shows_its_images(page: Page, app_url, confusion):
    open_page(page, app_url, "/evaluate", "Evaluate a model", timeout=FIRST_LOAD_MS)
    chart = page.locator(".st-key-evaluate_confusion_default")
    points = chart.locator(".scatterlayer .trace .points path.point")
    expect(points).to_have_count(100)
    labels = chart.locator(".scatterlayer .trace .text text")
    shown = [int(text) for text in labels.all_text_contents()]
    assert shown == confusion.ravel().tolist()  # the matrix the page draws is the model's

    t, p = cell_to_click(confusion)
    count = int(confusion[t, p])
    heading = page.get_by_role("heading", name=f"{count:,} images: true {t}, predicted {p}")
    expect(heading).to_have_count(0)  # the page starts on another cell

    point = points.nth(t * 10 + p)
    point.scroll_into_view_if_needed()  # a click only lands inside the window
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)  # hover first: Plotly's label proves the pointer is on that cell
    expect(chart.locator(".hoverlayer")).to_contain_text(f"true {t}, predicted {p}")
    page.mouse.click(x, y)
    expect(heading).to_be_visible()
    wait_idle(page)

    gallery = page.locator(".st-key-evaluate_cell_gallery")  # not the gallery of all mistakes
    captions = gallery.locator('[data-testid="stImageCaption"]')
    expect(captions).to_have_count(min(count, PER_PAGE))
    for text in captions.all_inner_texts():
        match = CAPTION.match(text.strip())
        assert match, f"unexpected caption {text!r}"
        assert (int(match[1]), int(match[2])) == (t, p)
    screenshot(
        page, "evaluate", top=page.get_by_role("heading", name="Confusion matrix", exact=True)
    )


TOOLTIP = '[data-testid="stTooltipContent"]'
COLUMN_TOOLTIP = '[data-testid="stDataFrameTooltipContent"]'


def column_helps(page: Page, table) -> list[str]:
    """The help of each column of a table, as its header shows it on hover: the pointer moved
    away and then onto the header row, 36 px further along each time, each new tooltip's text
    noted (a tooltip stays put while the pointer moves from one header to the next)."""
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    helps: list[str] = []
    tip = page.locator(COLUMN_TOOLTIP)
    for x in range(18, int(box["width"]), 36):
        page.mouse.move(700, 2)
        expect(tip).to_have_count(0)
        page.mouse.move(box["x"] + x, box["y"] + 17)
        for _ in range(40):  # the tooltip comes after a pause of the pointer
            if tip.count():
                text = tip.last.inner_text().strip()
                if text not in helps:
                    helps.append(text)
                break
            page.wait_for_timeout(50)
    page.mouse.move(700, 2)
    return helps


def test_every_score_has_a_plain_help(page: Page, app_url):
    """Each score on the page carries a one-sentence help in plain words: the metrics on hover
    of their "?" icon, the tables' columns on hover of their header."""
    open_page(page, app_url, "/evaluate", "Evaluate a model", timeout=FIRST_LOAD_MS)
    for label, words in (("Accuracy", "named correctly"), ("Macro F1", "equal weight")):
        metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        metric.locator('[data-testid="stTooltipIcon"]').hover()
        expect(page.locator(TOOLTIP).last).to_contain_text(words)
        page.mouse.move(700, 2)

    tables = page.locator('[data-testid="stDataFrame"]')
    per_digit = " | ".join(column_helps(page, tables.filter(has_text="Digit").first))
    for words in (
        "Of the images the model called this digit, the share that really were",  # precision
        "Of the images of this digit, the share the model found",  # recall
        "Precision and recall combined into one score",  # F1
    ):
        assert words in per_digit, per_digit
    averages = " | ".join(column_helps(page, tables.filter(has_text="weighted avg").first))
    for words in ("Macro: the ten digits' scores averaged", "Weighted: each digit counting"):
        assert words in averages, averages
