"""The REST API on a real server started as `make run` starts it (tests/e2e/server.py), over
loopback with urllib: each endpoint, JSON errors (404, 405, 413), no cookies, the demo's
rate limit, and 8 clients at once. No browser needed."""

from __future__ import annotations

import io
import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from tests.e2e.server import running_app

MB = 1024 * 1024


@contextmanager
def environment(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def api_url(e2e_models_dir):
    with (
        environment(MNIST_STUDIO_DEMO="0", MNIST_STUDIO_API="1"),
        running_app(e2e_models_dir) as url,
    ):
        yield url


def request(url: str, body: bytes | dict | None = None, method: str | None = None, headers=None):
    """(status, headers, JSON answer) for one request; errors are answers too."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.loads(error.read())


@pytest.fixture(scope="module")
def digits(mnist):
    return (mnist.x_test[:8].astype(np.float32) / 255.0)[..., None], mnist.y_test[:8]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_each_endpoint_answers(api_url, digits, mnist):
    x, y = digits
    status, headers, answer = request(f"{api_url}/v1/models/default")
    assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"
    assert headers["content-type"] == "application/json" and "set-cookie" not in headers
    status, _, meta = request(f"{api_url}/v1/models/default/metadata")
    assert status == 200 and "serving_default" in json.dumps(meta)
    status, headers, rows = request(
        f"{api_url}/v1/models/default:predict", {"instances": x.tolist()}
    )
    assert status == 200 and "set-cookie" not in headers
    assert (np.argmax(rows["predictions"], axis=1) == y).all()
    status, _, columns = request(f"{api_url}/v1/models/default:predict", {"inputs": x.tolist()})
    assert columns["outputs"] == rows["predictions"]
    picture = _png(np.kron(mnist.x_test[0], np.ones((4, 4), np.uint8)))
    status, _, read = request(f"{api_url}/api/read?model=default", picture)
    assert status == 200 and read["digit"] == y[0] and len(read["input"]) == 28
    boundary = uuid.uuid4().hex
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + picture
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, from_form = request(
        f"{api_url}/api/read",
        form,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (status, from_form) == (200, read)
    log = url_log(api_url)
    assert "POST /api/read 200" in log and "GET /v1/models/default 200" in log


def url_log(url) -> str:
    return url.log_path.read_text(errors="replace")


def test_errors_are_json(api_url):
    cases = [
        ("GET", "/v1/models/default:predict", None, 405),
        ("PUT", "/v1/models/default", b"{}", 405),
        ("GET", "/api/read", None, 405),
        ("GET", "/v1/models/nope", None, 404),
        ("GET", "/v1/models/..%2F..%2Fetc", None, 400),  # Streamlit's own path check, as JSON
        ("GET", "/v1/models/%2e%2e/metadata", None, 400),
        ("GET", "/v1/nothing/here", None, 404),
        ("POST", "/v1/models/default:predict", b"{bad", 400),
        ("POST", "/v1/models/default:predict", {"instances": [[[0.0] * 28] * 28] * 1025}, 413),
        ("POST", "/api/read", b"\0" * (3 * MB), 413),  # over the 2 MB picture cap
        ("POST", "/v1/models/default:predict", b" " * (17 * MB), 413),  # over the JSON cap
        ("POST", "/api/read", b"not a picture", 400),
    ]
    for method, path, body, expected in cases:
        status, headers, answer = request(f"{api_url}{path}", body, method=method)
        assert status == expected, (path, answer)
        assert list(answer) == ["error"] and "Traceback" not in answer["error"]
        assert headers["content-type"] == "application/json"
    assert request(f"{api_url}/v1/models/default:predict", method="GET")[1]["allow"] == "POST"


def test_eight_clients_at_once(api_url, digits):
    x, y = digits
    answers, failures = [], []

    def client(k: int):
        for i in range(25):
            j = (k + i) % len(x)
            try:
                status, _, answer = request(
                    f"{api_url}/v1/models/default:predict", {"instances": x[j : j + 1].tolist()}
                )
                answers.append(status == 200 and int(np.argmax(answer["predictions"][0])) == y[j])
            except Exception as exc:  # counted, not raised in a thread
                failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(answers) == 200 and all(answers)


def test_the_demo_limits_requests_and_the_api_can_be_switched_off(e2e_models_dir):
    demo = environment(MNIST_STUDIO_DEMO="1", MNIST_STUDIO_API_RATE="20", MNIST_STUDIO_API="1")
    with demo, running_app(e2e_models_dir) as url:
        statuses = [request(f"{url}/v1/models/default")[0] for _ in range(20)]
        assert statuses == [200] * 20
        status, headers, answer = request(f"{url}/v1/models/default")
        assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
        assert "at most 20 a minute" in answer["error"]
        assert request(f"{url}/api/read", b"\0" * (3 * MB), method="POST")[0] == 429
    with environment(MNIST_STUDIO_API="0"), running_app(e2e_models_dir) as url:
        status, _, answer = request(f"{url}/v1/models/default")
        assert status == 404 and "switched off" in answer["error"]
