"""Every page opens in the browser with its title and without an error box."""

from __future__ import annotations

import pytest

from tests.e2e.streamlit_page import EXCEPTION, FIRST_LOAD_MS, Page, expect, open_page, screenshot

PAGES = [
    ("/", "MNIST Studio"),
    ("/train", "Train a model"),
    ("/evaluate", "Evaluate a model"),
    ("/draw", "Draw a digit"),
    ("/inside", "Inside the network"),
    ("/compare", "Compare runs"),
]


@pytest.mark.parametrize(("path", "title"), PAGES, ids=[p.strip("/") or "home" for p, _ in PAGES])
def test_page_loads_without_errors(page: Page, app_url, path, title):
    open_page(page, app_url, path, title, timeout=FIRST_LOAD_MS)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    if path == "/":
        expect(page.get_by_role("heading", name="The MNIST digits")).to_be_visible()
        # the sample grid (40), the class balance and the mean digits, every one decoded
        images = page.locator('[data-testid="stImage"] img')
        expect(images).to_have_count(42)
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        screenshot(page, "home")


@pytest.mark.parametrize("path", ["/etc/passwd", "/a/b/c", "/train/x", "/not-a-page/x?y=1"])
def test_an_address_that_names_no_page_says_so_with_a_way_home(page: Page, app_url, path):
    """Multi-segment addresses once gave a blank page: the browser resolved the app's own
    "./static/..." scripts under the made-up folder. The server sends them to the app's
    "Page not found", which links home."""
    open_page(page, app_url, path, "Page not found", timeout=FIRST_LOAD_MS)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_text("passwd")).to_have_count(0)  # the address is not echoed
    page.get_by_role("link", name="Go to the home page").click()
    page.locator("h1").filter(has_text="MNIST Studio").first.wait_for()


def test_a_page_address_with_a_trailing_slash_opens_the_page(page: Page, app_url):
    open_page(page, app_url, "/train/", "Train a model", timeout=FIRST_LOAD_MS)
    expect(page.locator(EXCEPTION)).to_have_count(0)
