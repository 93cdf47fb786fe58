"""The network editor in the browser: build a small CNN from scratch (add, fix a layer that
cannot take its input by adding and moving a Flatten), see the shapes and the cost follow,
train it on a quick slice and find it, with its layers, in Compare. A screenshot at
1280 x 800 (train-editor.png)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.streamlit_page import (
    TIMEOUT_MS,
    Page,
    expect,
    metric_value,
    open_page,
    screenshot,
    wait_idle,
)
from tests.e2e.test_e2e_inside import SCROLL_BELOW_HEADER_JS

TRAIN_MS = 180_000  # the worker imports TensorFlow, loads MNIST, trains 1,000 images, scores
LAYERS = '[class*="st-key-net_layer_"]'
# The network built below, and its parameters worked out by hand:
# conv 3x3x1x8 + 8 = 80; 26x26x8 pooled to 13x13x8 = 1,352 numbers; dense 1352*32 + 32 =
# 43,296; output 32*10 + 10 = 330.
PARAMETERS = 80 + 1352 * 32 + 32 + 330
NETWORK = "Conv2D 8 3x3 relu → MaxPooling2D 2 → Flatten → Dense 32 relu → Dense 10 softmax"


def choose(page: Page, key: str, option: str) -> None:
    """Pick the option of a select box that holds `option` (typed into its search field)."""
    box = page.locator(f".st-key-{key}").get_by_role("combobox")
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    expect(box).to_have_value(re.compile(re.escape(option)))
    wait_idle(page)


def add_layer(page: Page, kind: str) -> None:
    count = page.locator(LAYERS).count()
    choose(page, "net_add_type", kind)
    page.get_by_role("button", name="Add layer").click()
    expect(page.locator(LAYERS)).to_have_count(count + 1)
    wait_idle(page)


def set_number(page: Page, layer: int, label: str, value: int) -> None:
    box = page.locator(LAYERS).nth(layer).get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


@pytest.fixture
def wide_page(page: Page) -> Page:
    page.set_viewport_size({"width": 1280, "height": 800})
    return page


@pytest.mark.slow  # starts a real training worker
def test_build_a_small_cnn_train_it_and_find_it_in_compare(wide_page: Page, app_url):
    page = wide_page
    open_page(page, app_url, "/train", "Train a model")
    page.get_by_role("button", name="Start from scratch").click()
    expect(page.get_by_text("a linear classifier")).to_be_visible()
    wait_idle(page)

    add_layer(page, "Conv2D")
    set_number(page, 0, "filters", 8)
    add_layer(page, "MaxPooling2D")
    add_layer(page, "Dense")
    set_number(page, 2, "units", 32)
    # A Dense layer right after maps: the editor says which layer and why, Start is off.
    fault = "Layer 3 (Dense): meets 8 maps of 13×13; put Flatten or GlobalAveragePooling2D"
    expect(page.get_by_text(fault).first).to_be_visible()
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()
    add_layer(page, "Flatten")
    page.locator(LAYERS).nth(3).get_by_role("button", name="Up").click()
    wait_idle(page)
    expect(page.locator(LAYERS).nth(2)).to_contain_text("3 · Flatten → 1352")
    expect(page.locator(LAYERS).nth(3)).to_contain_text(f"4 · Dense → 32 · {1352 * 32 + 32:,}")
    expect(metric_value(page, "Parameters")).to_have_text(f"{PARAMETERS:,}")
    expect(page.get_by_role("listitem").filter(has_text="Convolution")).to_contain_text(
        "8 filters 3×3"
    )  # the diagram, as the Inside page draws it
    screenshot_top = page.get_by_role("heading", name="Design the network")
    screenshot_top.evaluate(SCROLL_BELOW_HEADER_JS)
    screenshot(page, "train-editor")

    # One epoch on the smallest quick slice.
    page.locator(".st-key-train_start").scroll_into_view_if_needed()
    epochs = page.locator(".st-key-train_epochs").get_by_role("slider")
    epochs.focus()
    epochs.press("Home")
    expect(epochs).to_have_value("1")
    wait_idle(page)
    page.locator(".st-key-train_quick").get_by_text("Quick run on a small slice").click()
    size = page.locator(".st-key-train_quick_size").get_by_role("slider")
    size.focus()
    size.press("Home")
    expect(
        page.locator(".st-key-train_quick_size [data-testid='stSliderThumbValue']")
    ).to_have_text("500")
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"[?&]job="))
    run_id = parse_qs(urlparse(page.url).query)["job"][0]
    assert "-custom-" in run_id
    expect(page.get_by_text("Your training is complete")).to_be_visible(timeout=TRAIN_MS)
    wait_idle(page)

    # By its address: a click on the sidebar while the Train page's live panel refreshes
    # was sometimes lost on a loaded machine.
    open_page(page, app_url, "/compare", "Compare runs")
    row = page.locator('[data-testid="stDataFrame"] [role="row"]').filter(has_text=run_id)
    expect(row).to_have_count(1, timeout=TIMEOUT_MS)
    expect(row).to_contain_text("Completed")
    expect(row).to_contain_text("custom")  # its network: below, once the run is chosen

    # And back into the editor with that network, to train it again with changes.
    choose(page, "compare_again", run_id)
    expect(page.get_by_text(f"Network: {NETWORK}")).to_be_visible()
    page.get_by_role("link", name="Train again with changes").click()
    expect(page.get_by_text(f"The network of run {run_id} is in the editor")).to_be_visible()
    expect(page.locator(LAYERS)).to_have_count(4)
    expect(metric_value(page, "Parameters")).to_have_text(f"{PARAMETERS:,}")
