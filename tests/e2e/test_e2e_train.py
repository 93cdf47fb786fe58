"""Train page in the browser: a short training runs live, survives a page change, and stops.

keras-convnet on a 20,000-image slice for 5 epochs: about 6 s an epoch on an idle 2-core
machine (several times that under load), so it outlasts the watching, the page change and
the Stop (about 10 s after the first batch) with room to spare; being stopped early, it
keeps the test well under a minute and a half either way.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.streamlit_page import (
    FIRST_LOAD_MS,
    TIMEOUT_MS,
    Page,
    expect,
    open_page,
    screenshot,
    sidebar_link,
    wait_idle,
)
from tests.e2e.test_e2e_editor import choose

PRESET = "keras-convnet"
EPOCHS = 5
PROGRESS = re.compile(r"Epoch (\d+) of (\d+) · batch ([\d,]+) of ([\d,]+)")
STARTUP_MS = 90_000  # the worker imports TensorFlow and loads MNIST before its first batch
STOP_MS = 60_000  # the current batch, then scoring 2,000 test images
# The run's name, and the one it is renamed to: spaces, unicode, HTML and quotes, each shown as
# the very text typed wherever runs are listed (never as bold or italic).
NAME = 'Lesson 3 — <b>ünïcode</b> & "quotes"'
RENAMED = "Leçon 4 · <i>renamed</i> & 'ok' ✓"
TOOLTIP = '[data-testid="stTooltipContent"]'


def batches_done(page: Page) -> int | None:
    """Batches finished so far, summed over epochs, from the progress bar's text."""
    for text in page.locator('[data-testid="stProgress"]').all_inner_texts():
        match = PROGRESS.search(text)
        if match:
            epoch, _, batch, batches = (int(g.replace(",", "")) for g in match.groups())
            return (epoch - 1) * batches + batch
    return None


def poll(page: Page, read, passes, timeout_ms: float, what: str):
    """read() every 200 ms (the page redraws the panel once a second) until passes(value)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = read()
        if value is not None and passes(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_ms / 1000:.0f} s (last seen: {value})")
        page.wait_for_timeout(200)


def wait_for_batches(page: Page, more_than: int, timeout_ms: float) -> int:
    return poll(
        page,
        lambda: batches_done(page),
        lambda n: n > more_than,
        timeout_ms,
        f"training progress did not pass batch {more_than}",
    )


def live_point_x(page: Page) -> float | None:
    """x position (px) of the latest point of the training loss curve: the live point, which
    moves right as training goes on (the x axis spans the whole run from the start). The curve
    is a line through a point every few steps, or one marker while it has a single point."""
    trace = page.locator(".st-key-train_live_curves .scatterlayer .trace").first
    if trace.count() == 0:
        return None
    line = trace.locator("path.js-line")
    path = line.first.get_attribute("d") if line.count() else None
    xs = re.findall(r"[ML]([-\d.]+),", path or "")
    if xs:
        return float(xs[-1])
    points = trace.locator(".points path.point")
    if points.count() == 0:
        return None
    match = re.search(r"translate\(([-\d.]+)", points.last.get_attribute("transform") or "")
    return float(match[1]) if match else None


STOPS_SHOWN_JS = """() => [...document.querySelectorAll('button')]
    .filter(b => /stop/i.test(b.innerText) && b.checkVisibility({visibilityProperty: true}))
    .map(b => b.innerText.trim())"""


# Streamlit's running indicator (data-testid stStatusWidget, "Running..." and its own Stop)
# is put in the page when a script run lasts over 500 ms and taken out when it ends: a
# MutationObserver notes each time it is there, whether it is shown and whether its Stop is
# in it (by textContent: innerText leaves out what visibility: hidden hides).
WATCH_STATUS_JS = """() => {
    const seen = window.mnistStudioStatusSeen = {present: 0, withStop: 0, shown: 0};
    const look = () => {
        const widget = document.querySelector('[data-testid="stStatusWidget"]');
        if (!widget) return;
        seen.present++;
        if ([...widget.querySelectorAll("button")].some(b => /stop/i.test(b.textContent)))
            seen.withStop++;
        if (widget.checkVisibility({visibilityProperty: true, opacityProperty: false}))
            seen.shown++;
    };
    new MutationObserver(look).observe(document.body, {childList: true, subtree: true});
    look();
}"""
STATUS_SEEN_JS = "() => window.mnistStudioStatusSeen"
# The indicator comes only in a refresh that takes over 500 ms, which on a quiet machine may
# not happen while the test looks: a stand-in with the indicator's test id and a Stop, put
# where Streamlit puts it, shows whether the page would hide the real one.
PROBE_SHOWN_JS = """() => {
    const probe = document.createElement("div");
    probe.setAttribute("data-testid", "stStatusWidget");
    probe.innerHTML = "<button>Stop</button>";
    (document.querySelector('[data-testid="stHeader"]') || document.body).appendChild(probe);
    const shown = probe.checkVisibility({visibilityProperty: true});
    probe.remove();
    return shown;
}"""


def one_stop_button(page: Page) -> None:
    """While a training runs, the only visible Stop is "Stop training": Streamlit's running
    indicator (whose Stop ends only the page script) is there during slow refreshes of the
    live panel, with its Stop, but never shown. Looked at 20 times, 200 ms apart; the
    indicator, whenever it came, was never shown, and a stand-in for it is hidden here (the
    Home page shows it: see `stand_in_indicator_is_shown`)."""
    page.evaluate(WATCH_STATUS_JS)
    assert page.evaluate(PROBE_SHOWN_JS) is False, "the Train page does not hide the indicator"
    for _ in range(20):
        shown = page.evaluate(STOPS_SHOWN_JS)
        assert shown and all("Stop training" in text for text in shown), shown
        seen = page.evaluate(STATUS_SEEN_JS)
        assert seen["shown"] == 0, f"Streamlit's running indicator was shown: {seen}"
        page.wait_for_timeout(200)
    print("one_stop_button: 20 looks,", seen)


def stand_in_indicator_is_shown(page: Page) -> bool:
    """Whether a stand-in for Streamlit's running indicator would show on this page."""
    return page.evaluate(PROBE_SHOWN_JS)


def choose_settings(page: Page) -> None:
    page.locator(".st-key-train_preset").get_by_role("combobox").click()
    page.get_by_role("option", name=PRESET, exact=True).click()
    expect(page.get_by_text("A small network with 3 layers that learn")).to_be_visible()
    wait_idle(page)

    epochs = page.locator(".st-key-train_epochs").get_by_role("slider")
    epochs.focus()
    epochs.press("Home")
    for _ in range(EPOCHS - 1):
        epochs.press("ArrowRight")
    expect(epochs).to_have_value(str(EPOCHS))
    wait_idle(page)

    page.locator(".st-key-train_quick").get_by_text("Quick run on a small slice").click()
    size = page.locator(".st-key-train_quick_size").get_by_role("slider")
    expect(size).to_be_visible()
    size.focus()
    size.press("End")
    expect(
        page.locator(".st-key-train_quick_size [data-testid='stSliderThumbValue']")
    ).to_have_text("20,000")
    wait_idle(page)

    page.get_by_role("textbox", name="Name this run (optional)").fill(NAME)
    page.get_by_role("textbox", name="Name this run (optional)").press("Tab")
    wait_idle(page)


@pytest.mark.slow  # starts a real training worker
def test_training_runs_live_survives_a_page_change_and_stops(page: Page, app_url):
    open_page(page, app_url, "/train", "Train a model")
    expect(page.get_by_text("Nothing is training right now")).to_be_visible()
    choose_settings(page)

    page.locator(".st-key-train_start button").click()
    expect(page).to_have_url(re.compile(r"[?&]job="))
    run_id = parse_qs(urlparse(page.url).query)["job"][0]
    assert PRESET in run_id
    expect(page.get_by_text("Now training")).to_be_visible()

    # Live: the progress text and the chart's live point move on between two looks.
    first = wait_for_batches(page, 0, STARTUP_MS)
    x_first = poll(
        page,
        lambda: live_point_x(page),
        lambda x: True,
        TIMEOUT_MS,
        "no live point appeared on the learning curves",
    )
    second = wait_for_batches(page, first, TIMEOUT_MS)
    poll(
        page,
        lambda: live_point_x(page),
        lambda x: x > x_first,
        TIMEOUT_MS,
        "the live point on the learning curve did not move on",
    )
    one_stop_button(page)
    wait_idle(page)
    screenshot(page, "train", top=page.locator("h1").first)

    # Another page and back: the training carries on and is still this visitor's.
    sidebar_link(page, "Home").click()
    expect(page.locator("h1").filter(has_text="MNIST Studio")).to_be_visible()
    wait_idle(page)
    assert stand_in_indicator_is_shown(page)  # only the Train page hides it
    sidebar_link(page, "Train").click()
    expect(page.locator("h1").filter(has_text="Train a model")).to_be_visible()
    expect(page.get_by_text("Now training")).to_be_visible()
    expect(page.get_by_text("started by you")).to_be_visible()
    wait_for_batches(page, second, TIMEOUT_MS)

    page.get_by_role("button", name="Stop training").click()
    expect(page.get_by_text("Your training was stopped")).to_be_visible(timeout=STOP_MS)
    expect(page.get_by_text(f"Run {run_id} · Stopped early")).to_be_visible()
    expect(page.get_by_role("button", name="Stop training")).to_have_count(0)
    wait_idle(page)

    # The curves' help says what training, validation and loss are.
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Loss: how wrong")
    caption.locator('[data-testid="stTooltipIcon"]').hover()
    for words in ("Training loss", "Validation loss", "held-back images", "Validation accuracy"):
        expect(page.locator(TOOLTIP).last).to_contain_text(words)
    page.mouse.move(700, 2)

    sidebar_link(page, "Compare").click()
    expect(page.locator("h1").filter(has_text="Compare runs")).to_be_visible()
    rows = page.locator('[data-testid="stDataFrame"] [role="row"]')
    row = rows.filter(has_text=NAME)  # the name as typed: the folder id is under More columns
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Stopped early")
    wait_idle(page)
    screenshot(page, "compare", top=page.locator("h1").first)
    # Its learning curve drawn too: the chart's legend (Plotly reads <b> as bold) says the name.
    page.locator(".st-key-compare_runs").get_by_role("combobox").click()
    page.keyboard.type("Lesson 3")
    page.get_by_role("option").filter(has_text="Lesson 3").first.click()
    page.keyboard.press("Escape")
    wait_idle(page)
    expect(page.locator(".js-plotly-plot .legendtext").filter(has_text=NAME)).to_have_count(1)
    shown_as_text(page)

    # Renamed on Compare: the new name everywhere, the folder (the run's id) unchanged.
    choose(page, "compare_rename", "Lesson 3")
    expect(page.get_by_text(f"Folder: models/{run_id}")).to_be_visible()
    page.get_by_role("textbox", name="New name").fill(RENAMED)
    page.get_by_role("button", name="Save the name and note").click()
    expect(page.get_by_text(f"Renamed the run {run_id}.")).to_be_visible()
    wait_idle(page)
    expect(rows.filter(has_text=RENAMED)).to_have_count(1)
    expect(rows.filter(has_text="Lesson 3")).to_have_count(0)
    shown_as_text(page)

    # Evaluate's menu of models lists it by its new name, as text.
    open_page(page, app_url, "/evaluate", "Evaluate a model", timeout=FIRST_LOAD_MS)
    page.locator(".st-key-evaluate_run").get_by_role("combobox").click()
    expect(page.get_by_role("option").filter(has_text=RENAMED)).to_have_count(1)
    shown_as_text(page)
    page.keyboard.press("Escape")


def shown_as_text(page: Page) -> None:
    """Nothing of the page's HTML came from the name: no bold, italic or script element holds
    its words (the browser would make them from the tags, were the name taken as HTML)."""
    for tag in ("b", "i", "script"):
        expect(page.locator(tag).filter(has_text=re.compile("ünïcode|renamed"))).to_have_count(0)
