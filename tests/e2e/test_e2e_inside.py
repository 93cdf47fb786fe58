"""Inside page in the browser: a digit drawn on Draw, or a test image from the Evaluate gallery,
looked inside; the saliency overlays and the activations shown, the explained digit switched,
never an error box. Screenshots at 1280 x 800 and 1024 x 768 (inside-*.png)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.e2e.streamlit_page import (
    EXCEPTION,
    FIRST_LOAD_MS,
    ROOT,
    Page,
    expect,
    metric_value,
    open_page,
    screenshot,
    stroke,
    wait_idle,
)
from tests.e2e.test_e2e_draw import SEVEN, draw_tab

ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"  # where a failing test's screenshot goes too
SIZES = {"1280": {"width": 1280, "height": 800}, "1024": {"width": 1024, "height": 768}}


@pytest.fixture(params=list(SIZES))
def sized_page(browser, app_url, request):
    """A fresh session in a window of 1280 x 800 or 1024 x 768; yields (page, size name)."""
    from tests.e2e.streamlit_page import TIMEOUT_MS

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=SIZES[request.param])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page, request.param
    context.close()


def tab_panel(page: Page):
    """The open tab's panel (Streamlit keeps the others in the DOM, hidden)."""
    return page.locator('[role="tabpanel"]:visible')


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
    wait_idle(page)


SCROLL_BELOW_HEADER_JS = """e => {
    e.scrollIntoView({block: "start"});
    let box = e.parentElement;  // Streamlit scrolls its main block: find it, step back
    while (box && !(box.scrollHeight > box.clientHeight
                    && /auto|scroll/.test(getComputedStyle(box).overflowY))) {
        box = box.parentElement;
    }
    if (box) box.scrollBy(0, -72);  // the app's header covers the top 60 px
}"""
IMAGES_LOADED_JS = """() => [...document.querySelectorAll('[data-testid="stImage"] img')]
    .every(i => i.complete && i.naturalWidth > 0)"""


def picture(page: Page, name: str, top, size: str = "1280") -> None:
    """screenshot() once every picture has loaded, with `top` just below the app's header.
    The 1280 x 800 pictures are the README's (`make screenshots`); the 1024 x 768 ones, for
    checking the narrow layout, always go to tests/e2e/artifacts/screenshots."""
    page.wait_for_function(IMAGES_LOADED_JS)
    top.evaluate(SCROLL_BELOW_HEADER_JS)
    if size == "1280":
        screenshot(page, name)
    else:
        folder = ARTIFACTS / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.mouse.move(500, 2)  # over the empty header: no hover effect in the picture
        page.screenshot(path=folder / f"{name}-{size}.png")


def red_and_blue(image) -> tuple[float, float]:
    """Shares of strongly red and strongly blue pixels in an element's screenshot."""
    rgb = np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB"), np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    red = (r > 150) & (r - g > 60) & (r - b > 60)
    blue = (b > 120) & (b - r > 40)
    return float(red.mean()), float(blue.mean())


def saliency_overlays(page: Page):
    """The overlay pictures of the Why tab: the images that carry a method's caption below."""
    return tab_panel(page).locator('[data-testid="stImage"] img')


def check_why(page: Page, digit: str) -> None:
    """The Why tab explains `digit`: its legend, one overlay per method, red in them."""
    panel = tab_panel(page)
    expect(panel.get_by_text(f"pushed the model toward {digit}")).to_be_visible()
    overlays = saliency_overlays(page)
    expect(overlays).to_have_count(3)  # the shipped CNN: integrated gradients, Grad-CAM, occlusion
    page.wait_for_function(IMAGES_LOADED_JS)
    overlays.first.scroll_into_view_if_needed()
    red, _ = red_and_blue(overlays.first)
    assert red > 0.005, "the integrated-gradients overlay shows no evidence for the digit"
    expect(
        panel.get_by_text(re.compile(r"Blacking out the 40 pixels a map marks first"))
    ).to_be_visible()


def test_look_inside_a_drawn_digit(sized_page, app_url):
    page, size = sized_page
    open_page(page, app_url, "/draw", "Draw a digit")
    panel = draw_tab(page)
    stroke(page, panel.locator("canvas.upper-canvas"), SEVEN)
    expect(metric_value(panel, "Prediction")).to_have_text("7")
    wait_idle(page)
    panel.get_by_role("button", name="Look inside").click()

    page.locator("h1").filter(has_text="Inside the network").first.wait_for()
    wait_idle(page)
    expect(metric_value(page, "It reads")).to_have_text("7")
    check_why(page, "7")
    expect(page.locator(EXCEPTION)).to_have_count(0)
    picture(page, "inside-why", page.locator(".st-key-inside_run"), size)

    # Why not 4? The maps now explain a 4, and the confidence in it is stated.
    tab_panel(page).get_by_role("radio", name="4", exact=True).click()
    expect(tab_panel(page).get_by_text("pushed the model toward 4")).to_be_visible()
    wait_idle(page)
    expect(tab_panel(page).get_by_text(re.compile(r"confidence in 4 from"))).to_be_visible()
    expect(saliency_overlays(page)).to_have_count(3)
    expect(page.locator(EXCEPTION)).to_have_count(0)

    open_tab(page, "Layer by layer")
    panel = tab_panel(page)
    expect(panel.get_by_text("In all:")).to_be_visible()
    expect(panel.get_by_text("Convolution").first).to_be_visible()
    expect(
        panel.get_by_role("heading", name="What each layer computes for your drawing")
    ).to_be_visible()
    expect(panel.locator('[data-testid="stImage"] img')).to_have_count(6)  # 5 convs, 1 dense
    expect(page.locator(EXCEPTION)).to_have_count(0)
    picture(page, "inside-layers", page.locator('[data-testid="stTabs"]'), size)

    open_tab(page, "Step by step")
    panel = tab_panel(page)
    expect(panel.get_by_text("Step 1 of 7")).to_be_visible()
    panel.get_by_role("button", name="Next").click()
    expect(panel.get_by_text("Step 2 of 7")).to_be_visible()
    wait_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    picture(page, "inside-story", page.locator('[data-testid="stTabs"]'), size)


def test_look_inside_a_test_image_from_the_evaluate_gallery(page: Page, app_url):
    open_page(page, app_url, "/evaluate", "Evaluate a model", timeout=FIRST_LOAD_MS)
    heading = page.get_by_role("heading", name=re.compile(r"images: true \d, predicted \d"))
    true, predicted = map(int, re.findall(r"true (\d), predicted (\d)", heading.inner_text())[0])
    link = page.get_by_role("link", name="Why?").first
    href = link.get_attribute("href")
    index = int(re.search(r"test=(\d+)", href)[1])
    link.click()

    page.locator("h1").filter(has_text="Inside the network").first.wait_for()
    wait_idle(page)
    expect(metric_value(page, "It reads")).to_have_text(str(predicted))
    expect(page.get_by_text(f"MNIST labels test image {index} as {true}")).to_be_visible()
    assert f"test={index}" in page.url
    check_why(page, str(predicted))
    tab_panel(page).get_by_role("radio", name=str(true), exact=True).click()  # why not the truth?
    expect(tab_panel(page).get_by_text(f"pushed the model toward {true}")).to_be_visible()
    wait_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    page.set_viewport_size(SIZES["1280"])  # as the other pictures of this page
    wait_idle(page)
    picture(page, "inside-why-not", page.locator(".st-key-inside_run"))
