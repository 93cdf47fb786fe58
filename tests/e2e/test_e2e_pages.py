"""Every page opens in the browser with its title and without an error box."""

from __future__ import annotations

import pytest

from tests.e2e.streamlit_page import EXCEPTION, FIRST_LOAD_MS, Page, expect, open_page, screenshot

PAGES = [("/", "MNIST Studio"), ("/train", "Train a model"), ("/evaluate", "Evaluate a model"),
         ("/draw", "Draw a digit"), ("/compare", "Compare runs")]


@pytest.mark.parametrize(("path", "title"), PAGES, ids=[p.strip("/") or "home" for p, _ in PAGES])
def test_page_loads_without_errors(page: Page, app_url, path, title):
    open_page(page, app_url, path, title, timeout=FIRST_LOAD_MS)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    if path == "/":
        expect(page.get_by_role("heading", name="The MNIST digits")).to_be_visible()
        expect(page.locator('[data-testid="stImage"]')).to_have_count(40)  # the sample grid
        screenshot(page, "home")
