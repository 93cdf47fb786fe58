"""The REST API over loopback: `bench_api(root)` starts the real server (tests/e2e/server.py)
over a temporary models directory holding a copy of the model as run "default" and returns:

    one_instance_ms          {p50, p95, calls}: POST /v1/models/default:predict with one 28x28
                             instance, one client on a kept-alive connection, one at a time
    one_instance_new_connection_ms  the same with a new connection for each request (as curl
                             or urllib do). Kept-alive connections to Streamlit 1.67's server
                             wait about 40 ms per answer: its listening socket is made with
                             proto 0, so asyncio leaves Nagle's algorithm on (TCP_NODELAY
                             unset) and the answer's second segment waits for the delayed ACK
                             (its own /_stcore/health shows the same); the handler's time is
                             in the server log (one line per request)
    read_picture_ms          {p50, p95, calls}: POST /api/read with a 112x112 PNG (the
                             preprocessing included), one at a time
    concurrent_ms            {p50, p95, calls, clients, requests_per_s}: 8 clients, each on its
                             own connection, 200 one-instance requests each, all at once
    wrong                    answers that were not 200 with the right digit (should be 0)

Outside demo mode (no rate limit). No assertions: figures only. Needs no browser.
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

                threads = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
                for thread in threads:
                    thread.start()
                start.wait()
                began = time.perf_counter()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - began
                result["concurrent_ms"] = {
                    **_figures(all_times),
                    "clients": CLIENTS,
                    "requests_per_s": round(len(all_times) / elapsed, 1),
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
