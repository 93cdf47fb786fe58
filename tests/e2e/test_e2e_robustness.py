"""Robustness page in the browser: the shipped model's bars, the examples, a mistake's Why?."""

from __future__ import annotations

from tests.e2e.streamlit_page import Page, expect, metric_value, open_page, screenshot, wait_idle


def test_the_bars_the_examples_and_a_mistake_opened_inside(page: Page, app_url):
    open_page(page, app_url, "/robustness", "Robustness")
    expect(metric_value(page, "Mean over the changes")).to_contain_text("%")
    expect(page.locator(".js-plotly-plot")).to_be_visible()
    expect(page.get_by_text("Crossed out", exact=True).first).to_be_visible()  # an example
    screenshot(page, "robustness", top=page.locator("h1"))

    box = page.locator(".st-key-robustness_corruption").get_by_role("combobox")
    box.click()
    box.press_sequentially("Crossed")  # the select filters its options as one types
    page.get_by_role("option", name="Crossed out", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("read wrong; the first")).to_be_visible()
    page.get_by_role("button", name="Why?").first.click()
    page.locator("h1").filter(has_text="Inside").first.wait_for()
    expect(page.get_by_text("a test digit, crossed out").first).to_be_visible()
