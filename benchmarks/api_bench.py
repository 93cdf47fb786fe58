"""The REST API over loopback: `bench_api(root)` starts the real server (tests/e2e/server.py)
over a temporary models directory holding a copy of the model as run "default" and returns:

    one_instance_ms          {p50, p95, calls}: POST /v1/models/default:predict with one 28x28
                             instance, one client on a kept-alive connection, one at a time
    one_instance_new_connection_ms  the same with a new connection for each request (as curl
                             or urllib do). (Kept-alive answers waited about 40 ms each for
                             the client's delayed ACK until serve.py set TCP_NODELAY on every
                             accepted connection: see no_delay.py)
    read_picture_ms          {p50, p95, calls}: POST /api/read with a 112x112 PNG (the
                             preprocessing included), one at a time
    concurrent_ms            {p50, p95, calls, clients, requests_per_s, page_visits}: 8 clients,
                             each on its own connection, 200 one-instance requests each, all
                             at once, while a headless browser visits the home page and Draw
                             over and over, a new visitor each time, from a first round
                             before the clients start (page_visits: how many visits finished
                             meanwhile; 0 without Playwright and Chromium)
    wrong                    answers that were not 200 with the right digit (should be 0)

Outside demo mode (no rate limit). No assertions: figures only.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CLIENTS = 8
REQUESTS_PER_CLIENT = 200
SEQUENTIAL = 200
WARM_UP = 20


def _figures(values_ms: list[float]) -> dict:
    values = np.asarray(values_ms)
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
        "calls": len(values_ms),
    }


class _Client:
    """One kept-alive HTTP/1.1 connection to the server."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, body: bytes, content_type: str = "application/json"):
        started = time.perf_counter()
        self.connection.request("POST", path, body, {"Content-Type": content_type})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        return response.status, answer, (time.perf_counter() - started) * 1000

    def close(self):
        self.connection.close()


def _visit_pages(url: str, stop: threading.Event, ready: threading.Event, visits: list) -> None:
    """Visitors to the home page and to Draw, one after another, until `stop` is set."""
    try:
        from playwright.sync_api import sync_playwright

        from tests.e2e.server import CHROMIUM_ARGS, chromium_path
        from tests.e2e.streamlit_page import VIEWPORT, wait_idle
    except ImportError:
        ready.set()
        return
    executable = chromium_path()
    if executable is None:
        ready.set()
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            first_round = True
            while first_round or not stop.is_set():
                for address, text in (("/", "MNIST Studio"), ("/draw", "Draw a digit")):
                    context = browser.new_context(viewport=VIEWPORT)
                    page = context.new_page()
                    page.set_default_timeout(120_000)
                    page.goto(url + address)
                    page.get_by_text(text).first.wait_for()
                    wait_idle(page, 120_000)
                    context.close()
                    visits[0] += not first_round
                first_round = False  # the first visits import and load what pages need
                ready.set()
        finally:
            ready.set()
            browser.close()


def bench_api(root: Path, model_path: Path | None = None, data=None) -> dict:
    root = Path(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from app_bench import _models_dir_with
    from PIL import Image

    from mnist_core.data import load_mnist
    from tests.e2e.server import running_app

    data = data or load_mnist()
    x = (data.x_test[:100].astype(np.float32) / 255.0)[..., None]
    y = data.y_test[:100]
    bodies = [json.dumps({"instances": x[i : i + 1].tolist()}).encode() for i in range(len(x))]
    buffer = io.BytesIO()
    Image.fromarray(np.kron(data.x_test[0], np.ones((4, 4), np.uint8))).save(buffer, "PNG")
    picture = buffer.getvalue()
    model_path = Path(model_path or root / "models" / "default" / "model.keras")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result: dict = {"model": str(model_path), "load_avg": [round(os.getloadavg()[0], 2)]}
    wrong = 0
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        models = _models_dir_with(model_path, Path(tmp))
        saved = {k: os.environ.pop(k, None) for k in ("MNIST_STUDIO_DEMO", "MNIST_STUDIO_API")}
        try:
            with running_app(models) as url:
                client = _Client(url)
                for i in range(WARM_UP):  # loads the model, warms both interpreters
                    client.post("/v1/models/default:predict", bodies[i % len(bodies)])
                times = []
                for i in range(SEQUENTIAL):
                    status, answer, ms = client.post(
                        "/v1/models/default:predict", bodies[i % len(bodies)]
                    )
                    wrong += status != 200 or np.argmax(answer["predictions"][0]) != y[i % len(y)]
                    times.append(ms)
                result["one_instance_ms"] = _figures(times)
                times = []
                for i in range(SEQUENTIAL):
                    fresh = _Client(url)
                    status, answer, ms = fresh.post(
                        "/v1/models/default:predict", bodies[i % len(bodies)]
                    )
                    fresh.close()
                    wrong += status != 200 or np.argmax(answer["predictions"][0]) != y[i % len(y)]
                    times.append(ms)
                result["one_instance_new_connection_ms"] = _figures(times)
                times = []
                for _ in range(50):
                    status, answer, ms = client.post("/api/read", picture, "image/png")
                    wrong += status != 200 or answer["digit"] != y[0]
                    times.append(ms)
                result["read_picture_ms"] = _figures(times)
                client.close()

                all_times: list[float] = []
                misses = [0]
                lock = threading.Lock()
                start = threading.Barrier(CLIENTS + 1)

                def run(k: int) -> None:
                    own, bad = [], 0
                    c = _Client(url)
                    start.wait()
                    for i in range(REQUESTS_PER_CLIENT):
                        j = (k * REQUESTS_PER_CLIENT + i) % len(bodies)
                        status, answer, ms = c.post("/v1/models/default:predict", bodies[j])
                        bad += status != 200 or np.argmax(answer["predictions"][0]) != y[j]
                        own.append(ms)
                    c.close()
                    with lock:
                        all_times.extend(own)
                        misses[0] += bad

                stop, ready, visits = threading.Event(), threading.Event(), [0]
                pages = threading.Thread(target=_visit_pages, args=(url, stop, ready, visits))
                pages.start()
                ready.wait()
                threads = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
                for thread in threads:
                    thread.start()
                start.wait()
                began = time.perf_counter()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - began
                stop.set()
                pages.join()
                result["concurrent_ms"] = {
                    **_figures(all_times),
                    "clients": CLIENTS,
                    "requests_per_s": round(len(all_times) / elapsed, 1),
                    "page_visits": visits[0],
                }
                wrong += misses[0]
        finally:
            os.environ.update({k: v for k, v in saved.items() if v is not None})
    result["wrong"] = int(wrong)
    result["load_avg"].append(round(os.getloadavg()[0], 2))
    return result


if __name__ == "__main__":  # python benchmarks/api_bench.py [MODEL.keras]
    here = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(here / "benchmarks"))
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    print(json.dumps(bench_api(here, model), indent=2))
