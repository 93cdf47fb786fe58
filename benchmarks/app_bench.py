"""The app as a visitor meets it: server start, home page render, stroke to prediction, memory.

`bench_app(root)` starts the real server (tests/e2e/server.py) over a temporary models
directory holding a copy of the model as run "default", drives headless Chromium with
Playwright and returns:

    server_start_s           process start until /_stcore/health answers (serve.py's
                             warm-up included: it runs before the server accepts connections)
    home_first_render_s      the first visit to "/" after the server answers, from page.goto
                             until the title is visible, the script is idle and every picture
                             and chart on the page is drawn (wall clock):
                             what the issue's "server start until the home page is rendered"
                             target is about. The browser has loaded a page before (as a
                             visitor's browser would have), so its own start-up is not counted
    home_render_s            {median, all}: N more fresh visits to "/" (a new browser context
                             each). While they run, the server's background warm-up of the
                             model (serve.py) may be running too
    stroke_to_prediction_ms  {median, all}: strokes on /draw, alternately a 1 and a 7 with a
                             Clear between them, from the mouseup event until the Prediction
                             metric shows the new digit; both instants are performance.now()
                             in the page (a capturing mouseup listener, a MutationObserver), so
                             Playwright's round trips are not counted
    first_prediction_s       the same for the first stroke, after the home visits: with serve.py's
                             warm-up done by then it is like any other; without it, it includes
                             importing TensorFlow and loading the model
    stroke_misses            strokes whose digit did not show within 30 s, with what the page
                             showed instead (each is followed by a fresh page)
    peak_rss_mb              VmHWM of the server process after the strokes (model loaded)
    load_avg                 the machine's 1-minute load average before and after

No assertions: figures only. Needs Playwright and Chromium (/usr/bin/chromium or E2E_CHROMIUM);
without them it returns {"skipped": reason}.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HOME_LOADS = 3
STROKES = 5
SETTLE_MS = 500
STROKE_TIMEOUT_MS = 30_000
ONE = [(140, 40), (143, 240)]
SEVEN = [(70, 60), (210, 60), (120, 230)]

_ARM = """expected => {
    const bench = window.__bench = {up: null, shown: null};
    document.addEventListener("mouseup", () => { bench.up = performance.now(); },
                              {capture: true, once: true});
    const shows = () => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
        (m.querySelector('[data-testid="stMetricLabel"]')?.textContent || "").includes("Prediction")
        && (m.querySelector('[data-testid="stMetricValue"]')?.textContent || "").trim() === expected);
    const observer = new MutationObserver(() => {
        if (bench.up !== null && bench.shown === null && shows()) {
            bench.shown = performance.now();
            observer.disconnect();
        }
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


_SHOWN = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].map(m =>
    (m.querySelector('[data-testid="stMetricLabel"]')?.textContent || "") + ": " +
    (m.querySelector('[data-testid="stMetricValue"]')?.textContent || "")).join("; ")"""


# The page is rendered when the script has finished, every picture has been loaded and
# decoded, and every Plotly chart has drawn its SVG: not only when the title shows.
_RENDERED = """() => {
    const images = [...document.querySelectorAll('[data-testid="stMain"] img')];
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0)
        && charts.every(c => c.querySelector('.main-svg'));
}"""


def _summary(values: list[float], digits: int) -> dict:
    return {
        "median": round(statistics.median(values), digits),
        "all": [round(v, digits) for v in values],
    }


def _models_dir_with(model_path: Path, tmp: Path) -> Path:
    """tmp/models/default: a copy of the model's run directory (or of the bare model file)."""
    from mnist_core import runs

    target = tmp / "models" / "default"
    if (model_path.parent / "run.json").is_file():
        shutil.copytree(model_path.parent, target, ignore=shutil.ignore_patterns("STOP", "*.tmp"))
        run = runs.read_run(target)
        if run.meta.status in runs.ACTIVE:  # a copy of a run still training: a finished run here
            runs.update_meta(run, status="completed")
    else:
        runs.create_run("?", models_dir=target.parent, run_id="default", status="completed")
        shutil.copy2(model_path, target / "model.keras")
    return target.parent


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
    except OSError:
        pass
    return None


def _home_loads(browser, url: str, viewport: dict, n: int) -> list[float]:
    from tests.e2e.streamlit_page import wait_idle

    seconds = []
    for _ in range(n):
        context = browser.new_context(viewport=viewport)  # a new visitor each time
        page = context.new_page()
        page.set_default_timeout(120_000)
        start = time.perf_counter()
        page.goto(url + "/")
        page.locator("h1").filter(has_text="MNIST Studio").wait_for()
        wait_idle(page, 120_000)
        page.wait_for_function(_RENDERED, timeout=120_000)
        seconds.append(time.perf_counter() - start)
        context.close()
    return seconds


def _warm_browser(browser) -> None:
    """One page with some script in a throwaway context: the browser's own first-page costs
    (renderer process, script engine) are then not billed to the server's first page."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        "<h1 id=t>warm</h1><script>document.getElementById('t').textContent = "
        "[...Array(1000).keys()].map(String).join('').length</script>"
    )
    page.locator("#t").wait_for()
    context.close()


def _strokes(
    browser, url: str, viewport: dict, n: int
) -> tuple[float | None, list[float], list[str]]:
    """(first stroke's seconds, later strokes' ms, misses): a stroke whose digit does not
    show within STROKE_TIMEOUT_MS is a miss (what the page showed instead is kept), and the
    page is opened afresh for the next one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from tests.e2e.streamlit_page import open_page, stroke, wait_idle

    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(120_000)
    misses: list[str] = []

    def fresh_page():
        open_page(page, url, "/draw", "Draw a digit", timeout=120_000)

    def measured(points, digit: str) -> float | None:
        canvas = page.locator("canvas.upper-canvas")
        canvas.wait_for()
        page.wait_for_timeout(SETTLE_MS)  # a canvas just created by Clear may not take ink yet
        page.evaluate(_ARM, digit)
        stroke(page, canvas, points)
        try:
            page.wait_for_function("() => window.__bench.shown !== null", timeout=STROKE_TIMEOUT_MS)
        except PlaywrightTimeout:
            shown = page.evaluate(_SHOWN)
            misses.append(f"drew a {digit}, the page showed {shown!r} after {STROKE_TIMEOUT_MS} ms")
            fresh_page()
            return None
        ms = page.evaluate("() => window.__bench.shown - window.__bench.up")
        wait_idle(page, 120_000)
        page.get_by_role("button", name="Clear").click()
        page.get_by_text("Draw a digit from 0 to 9 in the black square").wait_for()
        wait_idle(page, 120_000)
        return ms

    fresh_page()
    first_ms = measured(SEVEN, "7")  # loads TensorFlow and the model unless warmed up: apart
    times = [measured(ONE if i % 2 == 0 else SEVEN, "1" if i % 2 == 0 else "7") for i in range(n)]
    context.close()
    return (
        (None if first_ms is None else first_ms / 1000),
        [t for t in times if t is not None],
        misses,
    )


def bench_app(
    root: Path, model_path: Path | None = None, home_loads: int = HOME_LOADS, strokes: int = STROKES
) -> dict:
    """Figures for the app (see the module docstring); `model_path` defaults to models/default."""
    root = Path(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "Playwright is not installed"}
    from tests.e2e.server import CHROMIUM_ARGS, chromium_path, running_app
    from tests.e2e.streamlit_page import VIEWPORT

    executable = chromium_path()
    if executable is None:
        return {"skipped": "Chromium was not found"}
    model_path = Path(model_path or root / "models" / "default" / "model.keras")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result: dict = {"model": str(model_path), "load_avg": [round(os.getloadavg()[0], 2)]}
    with tempfile.TemporaryDirectory(prefix="app-bench-") as tmp:
        models = _models_dir_with(model_path, Path(tmp))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                _warm_browser(browser)
                with running_app(models) as url:
                    result["server_start_s"] = round(url.startup_s, 2)
                    first, *later = _home_loads(browser, url, VIEWPORT, 1 + home_loads)
                    result["home_first_render_s"] = round(first, 2)
                    result["home_render_s"] = _summary(later, 2)
                    first_s, times, misses = _strokes(browser, url, VIEWPORT, strokes)
                    result["first_prediction_s"] = None if first_s is None else round(first_s, 2)
                    result["stroke_to_prediction_ms"] = _summary(times, 1) if times else None
                    result["stroke_misses"] = misses
                    result["peak_rss_mb"] = _peak_rss_mb(url.pid)
            finally:
                browser.close()
    result["load_avg"].append(round(os.getloadavg()[0], 2))
    return result


if __name__ == "__main__":  # python benchmarks/app_bench.py [MODEL.keras]
    here = Path(__file__).resolve().parent.parent
    print(json.dumps(bench_app(here, Path(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
