"""Every page fits the common screens, the Draw canvases above all: at a projector's 1024 x 768,
laptops' 1280 x 800 and 1366 x 768, a 1920 x 1080 monitor and a 390 x 844 phone (where the
columns stack), each canvas is wholly visible (nothing of it clipped or covered) and a stroke
near each of its edges reaches the model."""

from __future__ import annotations

import pytest

from tests.e2e.streamlit_page import (
    FIRST_LOAD_MS,
    Page,
    expect,
    metric_value,
    open_page,
    screenshot,
    stroke,
    wait_idle,
)

SIZES = [(1024, 768), (1280, 800), (1366, 768), (1920, 1080), (390, 844)]
INSET = 8  # px from the canvas's edge: where the strokes near the edges go

# The canvas's box, and how much of it is really shown: the points of a 10 px grid over it
# where the topmost element is the canvas itself (a clipped or covered part is something else).
VISIBLE_JS = """c => {
    const r = c.getBoundingClientRect(), root = c.getRootNode();
    let shown = 0, all = 0;
    for (let x = r.left + 1; x < r.right; x += 10) for (let y = r.top + 1; y < r.bottom; y += 10) {
        all++;
        if (root.elementFromPoint(x, y) === c) shown++;
    }
    return {x: r.left, y: r.top, width: r.width, height: r.height, shown, all,
            inside: r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight};
}"""


def visible_box(page: Page, canvas) -> dict:
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(100)  # Streamlit scrolls its main block smoothly
    return canvas.evaluate(VISIBLE_JS)


def edge_strokes(side: float, height: float) -> dict[str, list[tuple[float, float]]]:
    """A short stroke along each edge, INSET px in."""
    return {
        "top": [(side * 0.3, INSET), (side * 0.7, INSET)],
        "bottom": [(side * 0.3, height - INSET), (side * 0.7, height - INSET)],
        "left": [(INSET, height * 0.3), (INSET, height * 0.7)],
        "right": [(side - INSET, height * 0.3), (side - INSET, height * 0.7)],
    }


@pytest.fixture
def sized(browser, app_url, request):
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    yield page
    context.close()


DIGIT_HINT = "Draw a digit from 0 to 9 in the black square"  # what a cleared canvas says
NUMBER_HINT = "Write a number, digits side by side"


def read_then_clear(page: Page, canvas, points, reading: str, hint: str) -> None:
    """Draw `points` on `canvas`, see the page show `reading` (the stroke was read), then
    press Clear and see `hint` again."""
    stroke(page, canvas, points)
    expect(metric_value(page, reading)).to_be_visible()
    wait_idle(page)
    page.get_by_role("button", name="Clear").first.click()
    expect(page.get_by_text(hint)).to_be_visible()
    wait_idle(page)


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_digit_canvas_is_whole_and_every_edge_draws(sized: Page, app_url):
    page = sized
    open_page(page, app_url, "/draw", "Draw a digit")
    canvas = page.locator("canvas.upper-canvas").first
    box = visible_box(page, canvas)
    print(page.viewport_size, box)
    assert (box["width"], box["height"]) == (280, 280) and box["inside"], box
    assert box["shown"] == box["all"], f"only {box['shown']} of {box['all']} points shown"
    for edge, points in edge_strokes(280, 280).items():
        read_then_clear(page, canvas, points, "Prediction", DIGIT_HINT)
        canvas = page.locator("canvas.upper-canvas").first
        for _ in range(30):  # the new canvas's toolbar is hidden within 200 ms of its making
            if visible_box(page, canvas)["shown"] == box["all"]:
                break
            page.wait_for_timeout(100)
        assert visible_box(page, canvas)["shown"] == box["all"], edge


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_number_canvas_is_whole_and_every_edge_draws(sized: Page, app_url):
    """The page holds a 600 x 200 and a 320 x 200 number canvas and shows the one that fits
    (the narrow one on the phone); the one shown is whole and a stroke near each edge is read."""
    page = sized
    open_page(page, app_url, "/draw", "Draw a digit")
    page.get_by_text("A whole number", exact=True).click()
    shown = page.locator("canvas.upper-canvas >> visible=true")
    expect(shown).to_have_count(1)
    width = 320 if page.viewport_size["width"] < 640 else 600
    canvas = page.locator(f"canvas.upper-canvas[width='{width}']")
    expect(canvas).to_be_visible()
    wait_idle(page)
    for edge, points in [("first", []), *edge_strokes(width, 200).items()]:
        for _ in range(30):  # as above: a new canvas's toolbar is hidden shortly after its making
            box = visible_box(page, canvas)
            if box["inside"] and box["shown"] == box["all"]:
                break
            page.wait_for_timeout(100)
        print(page.viewport_size, edge, box)
        assert (box["width"], box["height"]) == (width, 200), box
        assert box["inside"] and box["shown"] == box["all"], (edge, box)
        if not points:
            continue
        read_then_clear(page, canvas, points, "The number", NUMBER_HINT)


PAGES = {
    "/": "MNIST Studio",  # the home page (its url_path is for links: /home is "not found")
    "/train": "Train a model",
    "/evaluate": "Evaluate",
    "/robustness": "Robustness",
    "/draw": "Draw a digit",
    "/inside": "Inside",
    "/compare": "Compare runs",
    "/your-digits": "Your digits",
}
# Elements past the right edge that are not inside something that clips or scrolls them
# within the window (a tab bar scrolls; a long metric value ends in an ellipsis).
WIDE_JS = """() => {
    const held = e => {
        for (let a = e.parentElement; a; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== "visible"
                && a.getBoundingClientRect().right <= innerWidth + 1) return true;
        }
        return false;
    };
    return [...document.querySelectorAll('[data-testid="stMainBlockContainer"] *')]
        .filter(e => e.getBoundingClientRect().right > innerWidth + 1 && e.checkVisibility()
                && !held(e))
        .map(e => (e.dataset.testid || e.tagName) + ' ' + (e.innerText || '').slice(0, 40))
        .slice(0, 5);
}"""


@pytest.mark.parametrize("sized", [SIZES[0], SIZES[4]], indirect=True, ids=["1024x768", "390x844"])
def test_no_page_runs_off_the_side(sized: Page, app_url):
    """Nothing on any page (but tables and charts, which scroll or scale themselves) reaches
    past the right edge of the window."""
    for path, title in PAGES.items():
        open_page(sized, app_url, path, title, timeout=FIRST_LOAD_MS)
        assert sized.evaluate(WIDE_JS) == [], path


SEVEN = [(70, 60), (210, 60), (120, 230)]


@pytest.mark.parametrize("sized", [SIZES[0]], indirect=True, ids=["1024x768"])
def test_screenshots_at_a_projectors_size(sized: Page, app_url):
    """The README's pictures at 1024 x 768: Draw with a digit read, Train, Compare."""
    page = sized
    open_page(page, app_url, "/draw", "Draw a digit")
    canvas = page.locator("canvas.upper-canvas").first
    visible_box(page, canvas)
    stroke(page, canvas, SEVEN)
    expect(metric_value(page, "Prediction")).to_have_text("7")
    wait_idle(page)
    screenshot(page, "draw-1024x768")
    shots = (("/train", "Train a model", "train-1024x768", page.get_by_text("Start from scratch").first),
             ("/compare", "Compare runs", "compare-1024x768",
              page.locator(".js-plotly-plot").first))  # fmt: skip
    for path, title, name, last in shots:
        open_page(page, app_url, path, title)
        expect(last).to_be_visible()  # drawn, not the grey placeholders of a page loading
        page.wait_for_timeout(500)
        screenshot(page, name)
