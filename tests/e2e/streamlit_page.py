"""Playwright helpers for a Streamlit page: open it, wait until the script is idle, read metrics.

Streamlit marks its root element `[data-testid="stApp"]` with `data-test-script-state`
("initial", "running", "notRunning", ...) and shows `[data-testid="stStatusWidget"]` (the
running man and Stop) while the script runs. "Idle" is both: state notRunning, no widget.
A click only starts a rerun a moment later, so after an action wait first for what the
action must change (a text, an element), then for idle.
"""

from __future__ import annotations

import os
from pathlib import Path

try:  # the test modules import Page and expect from here, so they collect without Playwright
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # and the browser fixture then skips them (or fails them, under CI=true)
    Locator = Page = expect = None

ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` (MNIST_STUDIO_SCREENSHOTS=1) refreshes the README's pictures; an ordinary
# test run keeps its screenshots out of the tree (they change every run: ids, "x s ago").
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("MNIST_STUDIO_SCREENSHOTS") == "1"
    else ROOT / "tests" / "e2e" / "artifacts" / "screenshots"
)
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 30_000  # a first visit imports TensorFlow and loads a model
FIRST_LOAD_MS = 90_000  # the first Evaluate visit also scores 10,000 test images

APP = '[data-testid="stApp"]'
IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState === "notRunning"
        && app.dataset.testConnectionState === "CONNECTED"
        && !document.querySelector('[data-testid="stStatusWidget"]');
}"""
EXCEPTION = '[data-testid="stException"]'


def wait_idle(page: Page, timeout: float = TIMEOUT_MS) -> None:
    """Until the script has finished its run and the running indicator is gone."""
    page.wait_for_function(IDLE_JS, timeout=timeout)


def open_page(
    page: Page, base_url: str, path: str, title: str, timeout: float = TIMEOUT_MS
) -> None:
    """Go to `path`, wait for the app, its h1 `title` and the end of the script run."""
    page.goto(base_url + path)
    page.wait_for_selector(APP, timeout=timeout)
    page.locator("h1").filter(has_text=title).first.wait_for(timeout=timeout)
    wait_idle(page, timeout)


def metric(scope: Page | Locator, label: str) -> Locator:
    """The `st.metric` whose label reads `label`, within `scope` (a page or part of one)."""
    page = scope if isinstance(scope, Page) else scope.page
    return scope.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )


def metric_value(scope: Page | Locator, label: str) -> Locator:
    return metric(scope, label).locator('[data-testid="stMetricValue"]')


def sidebar_link(page: Page, name: str) -> Locator:
    return page.locator('[data-testid="stSidebarNav"] a').filter(has_text=name)


def stroke(page: Page, canvas: Locator, points: list[tuple[float, float]], steps: int = 8) -> None:
    """One pen stroke through `points` (canvas pixels from its top-left), pressed throughout."""
    box = canvas.bounding_box()
    assert box is not None, "the canvas is not visible"
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=steps)
    page.mouse.up()


def screenshot(page: Page, name: str, top: Locator | None = None) -> Path:
    """SCREENSHOTS/<name>.png: what a 1400 x 900 window shows (small enough for the README),
    scrolled so that `top` (an element) is at the top edge when given."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if top is not None:  # Streamlit scrolls its main block, not the document: scroll the element
        top.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(700, 2)  # over the empty header: no hover effect or tooltip in the picture
    page.screenshot(path=path)
    return path
