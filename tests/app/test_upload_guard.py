"""upload_guard.py: the limits on Streamlit's upload endpoint that serve.py sets up.

The fast tests drive `UploadGuard` with ASGI calls in front of a small Starlette app that
stores uploads the way Streamlit's endpoint does (one file per session and file id, kept in
memory, 400 for a session that is not connected). The slow test floods a real demo server
(started as `make run` starts it) from one browser session and measures its memory.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import threading
import time
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from upload_guard import (
    MB,
    MULTIPART_FRAMING_BYTES,
    UPLOADS_PER_SESSION,
    UploadGuard,
    UploadLedger,
    UploadLimits,
    sweep_periodically,
)

UPLOAD = "/_stcore/upload_file/{}/{}"


class FakeStore:
    """Streamlit's uploaded-file manager and session list, as far as the guard uses them."""

    def __init__(self, *sessions: str) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.active = set(sessions)

    def session_exists(self, session_id: str) -> bool:
        return session_id in self.active

    def remove_file(self, session_id: str, file_id: str) -> None:
        self.files.pop((session_id, file_id), None)

    def remove_session_files(self, session_id: str) -> None:
        for key in [key for key in self.files if key[0] == session_id]:
            del self.files[key]

    def held(self, session_id: str) -> list[str]:
        return [file_id for sid, file_id in self.files if sid == session_id]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guarded_app(limits: UploadLimits, *sessions: str):
    """(app, store, ledger, clock): a Streamlit-like upload endpoint behind UploadGuard."""
    store = FakeStore(*sessions)
    clock = Clock()
    ledger = UploadLedger(limits, store, clock)

    async def put(request):
        session_id, file_id = request.path_params["session_id"], request.path_params["file_id"]
        if not store.session_exists(session_id):
            raise HTTPException(400, "Invalid session_id")
        data = await request.body()
        if limits.max_file_bytes is not None and len(data) > limits.max_file_bytes:
            raise HTTPException(413, "File too large")  # Streamlit's exact check
        store.files[(session_id, file_id)] = data
        return Response(status_code=204)

    async def delete(request):
        store.remove_file(request.path_params["session_id"], request.path_params["file_id"])
        return Response(status_code=204)

    async def health(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route(UPLOAD.format("{session_id}", "{file_id}"), put, methods=["PUT"]),
            Route(UPLOAD.format("{session_id}", "{file_id}"), delete, methods=["DELETE"]),
            Route("/_stcore/health", health),
        ],
        middleware=[Middleware(UploadGuard, ledger=ledger)],
    )
    return app, store, ledger, clock


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    bytes_read: int  # of the request body, by the server


def call(
    app,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    client: str = "10.0.0.1",
    content_length: bool = True,
    chunk: int = 256 * 1024,
) -> Answer:
    """One HTTP request through the ASGI app, its body sent in chunks."""

    async def run() -> Answer:
        chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        sent = 0
        out: dict = {"body": b""}

        async def receive():
            nonlocal sent
            if sent < len(chunks):
                sent += 1
                return {
                    "type": "http.request",
                    "body": chunks[sent - 1],
                    "more_body": sent < len(chunks),
                }
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        headers = (
            [(b"content-length", str(len(body)).encode())]
            if content_length
            else [(b"transfer-encoding", b"chunked")]
        )
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": (client, 50000),
            "server": ("127.0.0.1", 8501),
        }
        await app(scope, receive, send)
        read = sum(len(c) for c in chunks[:sent])
        return Answer(out["status"], out["headers"], out["body"].decode(), read)

    return asyncio.run(run())


def put(app, session: str, file_id: str, size: int, **kwargs) -> Answer:
    return call(app, "PUT", UPLOAD.format(session, file_id), b"x" * size, **kwargs)


DEMO = UploadLimits.demo(2)


# --------------------------------------------------------------------------- size


def test_a_body_over_the_limit_is_refused_unread_by_its_length():
    app, store, ledger, _ = guarded_app(DEMO, "s1")
    answer = put(app, "s1", "f1", 5 * MB)
    assert answer.status == 413
    assert answer.text.strip() == "Upload refused: larger than this demo's limit of 2 MB."
    assert "\n" not in answer.text.strip()
    assert answer.bytes_read == 0 and answer.headers["connection"] == "close"
    assert store.files == {} and ledger.held == 0


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit():
    app, store, ledger, _ = guarded_app(DEMO, "s1")
    answer = put(app, "s1", "f1", 5 * MB, content_length=False)
    assert answer.status == 413 and "2 MB" in answer.text
    assert answer.bytes_read < DEMO.max_body_bytes + 256 * 1024  # one chunk past the limit
    assert store.files == {} and ledger.held == 0 and ledger.held_by_client == {}


def test_a_file_just_over_the_limit_meets_streamlits_exact_check():
    app, store, _, _ = guarded_app(DEMO, "s1")
    assert put(app, "s1", "f1", 2 * MB + 1).status == 413  # within the framing margin
    assert put(app, "s1", "f2", 2 * MB).status == 204
    assert store.held("s1") == ["f2"]
    assert DEMO.max_body_bytes == 2 * MB + MULTIPART_FRAMING_BYTES


# --------------------------------------------------------------------------- rate


def test_uploads_per_session_are_limited_per_minute():
    limits = UploadLimits(uploads_per_session=3, window_s=60)
    app, _, _, clock = guarded_app(limits, "s1", "s2")
    assert [put(app, "s1", f"f{i}", 100).status for i in range(3)] == [204] * 3
    clock.now += 20
    refused = put(app, "s1", "f3", 1000)
    assert refused.status == 429
    assert refused.text.strip() == (
        "Upload refused: more than 3 uploads a minute from this session in this demo; "
        "try again in 40 s."
    )
    assert refused.headers["retry-after"] == "40"
    assert refused.bytes_read == 1000 and "connection" not in refused.headers  # body drained
    assert put(app, "s2", "f0", 100).status == 204  # another session goes on
    clock.now += 40
    assert put(app, "s1", "f4", 100).status == 204  # a minute after the first


def test_uploads_per_client_address_are_limited_across_its_sessions():
    limits = UploadLimits(uploads_per_client=4, uploads_per_session=10)
    app, _, _, _ = guarded_app(limits, "a", "b", "c")
    statuses = [put(app, session, "f", 100).status for session in "abab"]
    assert statuses == [204] * 4
    refused = put(app, "c", "f", 100)
    assert refused.status == 429 and "from your address" in refused.text
    assert put(app, "c", "f", 100, client="10.0.0.2").status == 204


def test_refused_uploads_do_not_count():
    limits = UploadLimits(uploads_per_session=2, window_s=60)
    app, _, _, clock = guarded_app(limits, "s1")
    assert [put(app, "s1", f"f{i}", 10).status for i in range(50)] == [204] * 2 + [429] * 48
    clock.now += 60
    assert put(app, "s1", "again", 10).status == 204


# --------------------------------------------------------------------------- bytes held


def test_a_session_keeps_only_its_latest_upload():
    app, store, ledger, _ = guarded_app(UploadLimits(), "s1")  # outside demo mode too
    for i in range(5):
        assert put(app, "s1", f"f{i}", 1000 + i).status == 204
    assert store.held("s1") == ["f4"]
    assert ledger.held == 1004 and ledger.held_by_client == {"10.0.0.1": 1004}
    assert put(app, "s1", "f4", 10).status == 204  # the same id again replaces it
    assert ledger.held == 10
    assert call(app, "DELETE", UPLOAD.format("s1", "f4")).status == 204
    assert store.files == {} and ledger.held == 0 and ledger.files == {}


def test_bytes_held_per_address_and_in_all_are_bounded():
    limits = UploadLimits(bytes_held_per_client=3000, bytes_held_total=5000)
    app, store, ledger, _ = guarded_app(limits, *"abcdef")
    for session in "abc":
        assert put(app, session, "f", 1000).status == 204
    refused = put(app, "d", "f", 1000)
    assert refused.status == 429 and "from your address already hold" in refused.text
    assert put(app, "a", "g", 1000).status == 204  # a replacement frees what it adds
    assert put(app, "d", "f", 1000, client="10.0.0.2").status == 204
    assert put(app, "e", "f", 1000, client="10.0.0.2").status == 204
    busy = put(app, "f", "f", 1000, client="10.0.0.3")
    assert busy.status == 503 and busy.headers["retry-after"] == "60"
    assert ledger.held == 5000 == sum(len(data) for data in store.files.values())


def test_a_failed_upload_holds_nothing():
    app, store, ledger, _ = guarded_app(DEMO, "s1")
    assert put(app, "gone", "f1", 1000).status == 400  # a session that is not connected
    assert store.files == {} and ledger.held == 0 and ledger.held_by_client == {}


# --------------------------------------------------------------------------- release


def test_the_files_of_a_session_gone_for_a_while_are_released():
    limits = UploadLimits(release_after_s=120)
    app, store, ledger, clock = guarded_app(limits, "s1", "s2")
    put(app, "s1", "f", 1000)
    put(app, "s2", "f", 2000)
    store.active.discard("s1")  # the tab was closed: Streamlit keeps the session a while
    assert ledger.sweep() == 0 and store.held("s1") == ["f"]
    clock.now += 60
    store.active.add("s1")  # it came back (a reconnect)
    assert ledger.sweep() == 0
    store.active.discard("s1")
    assert ledger.sweep() == 0  # gone again: its wait starts again
    clock.now += 119
    assert ledger.sweep() == 0 and store.held("s1") == ["f"]
    clock.now += 1
    assert ledger.sweep() == 1
    assert store.held("s1") == [] and store.held("s2") == ["f"]
    assert ledger.held == 2000 and ledger.gone_since == {}


def test_sweeping_also_runs_on_its_own_and_survives_a_fault():
    limits = UploadLimits(release_after_s=0)
    app, store, ledger, _ = guarded_app(limits, "s1")
    put(app, "s1", "f", 1000)
    store.active.clear()
    calls = []
    exists = store.session_exists

    def flaky(session_id):
        calls.append(session_id)
        if len(calls) == 1:
            raise RuntimeError("the runtime is stopping")
        return exists(session_id)

    store.session_exists = flaky

    async def run():
        task = asyncio.create_task(sweep_periodically(ledger, every_s=0.01))
        for _ in range(200):  # at most 2 s
            await asyncio.sleep(0.01)
            if not store.files:
                break
        task.cancel()

    asyncio.run(run())
    assert len(calls) >= 2 and store.files == {} and ledger.held == 0


def test_other_requests_pass_untouched_and_books_stay_small():
    limits = UploadLimits(uploads_per_session=1, uploads_per_client=1, window_s=60)
    app, _, ledger, clock = guarded_app(limits, "s1")
    for _ in range(20):
        assert call(app, "GET", "/_stcore/health").text == "ok"
    assert ledger.recent == {}
    put(app, "s1", "f", 10)
    clock.now += 61
    ledger.sweep()
    assert ledger.recent == {}


# --------------------------------------------------------------------------- a real server


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _settled_rss_mb(pid: int, timeout_s: float = 60) -> float:
    """The server's RSS once it stops changing (the model's background warm-up is done)."""
    deadline = time.monotonic() + timeout_s
    last = _rss_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(2)
        now = _rss_mb(pid)
        if abs(now - last) < 4:
            return now
        last = now
    return last


def _multipart(data: bytes, name: str = "digit.png") -> tuple[bytes, str]:
    boundary = "----upload-guard-test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def _put_file(port: int, path: str, data: bytes, token: str, cookie: str) -> tuple[int, str]:
    """PUT one file as the browser does; (status, first line of the answer), or (-1, error)."""
    body, content_type = _multipart(data)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "X-Xsrftoken": token,
        "Cookie": cookie,
    }
    try:
        connection.putrequest("PUT", path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            connection.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (and closed) before the whole body was sent: read the answer
        answer = connection.getresponse()
        return answer.status, answer.read(500).decode(errors="replace").strip()
    except OSError as exc:
        return -1, repr(exc)
    finally:
        connection.close()


def _uploads_held_bytes(port: int) -> int:
    """What Streamlit's uploaded-file manager holds, from its own metrics endpoint."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/_stcore/metrics?families=cache_memory_bytes")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    lines = [line for line in text.splitlines() if 'cache_type="UploadedFileManager"' in line]
    return int(float(lines[0].split()[-1])) if lines else 0


class HealthWatch(threading.Thread):
    """Another visitor: asks /_stcore/health every 0.2 s and records how long answers take."""

    def __init__(self, port: int, pid: int) -> None:
        super().__init__(daemon=True)
        self.port, self.pid = port, pid
        self.stop = threading.Event()
        self.answers: list[tuple[float, int | str]] = []
        self.peak_rss_mb = 0.0

    def run(self) -> None:
        while not self.stop.is_set() and len(self.answers) < 3000:
            started = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/_stcore/health")
                status: int | str = connection.getresponse().status
                connection.close()
            except OSError as exc:
                status = repr(exc)
            self.answers.append((time.monotonic() - started, status))
            self.peak_rss_mb = max(self.peak_rss_mb, _rss_mb(self.pid))
            self.stop.wait(0.2)


FLOOD_UPLOADS = 200
FLOOD_FILE_BYTES = int(1.9 * MB)
FLOOD_GROWTH_LIMIT_MB = 250
FLOOD_DEADLINE_S = 90
HEALTH_SLOWEST_S = 2.0


@pytest.mark.slow
def test_a_flood_of_uploads_leaves_the_demo_server_standing(
    shipped_models_dir, monkeypatch, tmp_path
):
    from PIL import Image

    from tests.e2e.server import CHROMIUM_ARGS, chromium_path, running_app

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or chromium_path() is None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("Playwright or Chromium is missing (CI=true: this test must run)")
        pytest.skip("Playwright or Chromium is missing")

    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    picture = tmp_path / "digit.png"
    Image.new("L", (28, 28), 255).save(picture)

    with running_app(shipped_models_dir) as url, sync_playwright() as playwright:
        port = int(url.rsplit(":", 1)[1])
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            # A visitor's own session id and XSRF token, as the browser's network tab shows them.
            page = browser.new_page()
            page.goto(url + "/draw")
            page.locator("h1").filter(has_text="Draw a digit").wait_for(timeout=90_000)
            page.get_by_role("tab", name="Upload a picture").click()
            with page.expect_request(
                lambda r: r.method == "PUT" and "/_stcore/upload_file/" in r.url, timeout=60_000
            ) as captured:
                page.locator('input[type="file"]').set_input_files(picture)
            request = captured.value
            assert request.response().status == 204
            path = request.url.split(url, 1)[1]
            session = path.split("/")[3]
            headers = request.all_headers()
            token, cookie = headers["x-xsrftoken"], headers["cookie"]

            def upload(file_id: str, size: int) -> tuple[int, str]:
                target = f"/_stcore/upload_file/{session}/{file_id}"
                return _put_file(port, target, os.urandom(size), token, cookie)

            baseline = _settled_rss_mb(url.pid)

            status, text = upload("five-mb", 5 * MB)
            assert status == 413 and "2 MB" in text, text
            status, text = upload("just-over", 2 * MB + 1)  # Streamlit's own, exact check
            assert status == 413, text

            watch = HealthWatch(port, url.pid)
            watch.start()
            statuses: dict[int, int] = {}
            reasons = set()
            data = os.urandom(FLOOD_FILE_BYTES)
            deadline = time.monotonic() + FLOOD_DEADLINE_S
            started = time.monotonic()
            for i in range(FLOOD_UPLOADS):
                assert time.monotonic() < deadline, f"only {i} uploads in {FLOOD_DEADLINE_S} s"
                body_status, text = _put_file(
                    port, f"/_stcore/upload_file/{session}/flood-{i}", data, token, cookie
                )
                statuses[body_status] = statuses.get(body_status, 0) + 1
                if body_status != 204:
                    reasons.add(text.split(" in ", 1)[0])
            flood_s = time.monotonic() - started
            time.sleep(1)  # one more health answer after the flood
            watch.stop.set()
            watch.join(timeout=15)
            after = _rss_mb(url.pid)
            held = _uploads_held_bytes(port)
        finally:
            browser.close()

    latencies = sorted(seconds for seconds, _ in watch.answers)
    growth = max(after, watch.peak_rss_mb) - baseline
    print(
        f"\n{FLOOD_UPLOADS} uploads of {FLOOD_FILE_BYTES / MB:.1f} MB in {flood_s:.1f} s: "
        f"{statuses}; RSS {baseline:.0f} -> {after:.0f} MB (peak {watch.peak_rss_mb:.0f}); "
        f"uploads held {held / MB:.2f} MB; health: {len(latencies)} answers, "
        f"slowest {latencies[-1] * 1000:.0f} ms"
    )
    assert set(statuses) <= {204, 429}, statuses
    assert statuses.get(204, 0) >= 1 and statuses.get(429, 0) >= FLOOD_UPLOADS // 2
    assert reasons == {
        f"Upload refused: more than {UPLOADS_PER_SESSION} uploads a minute from this session"
    }
    assert held <= 2 * MB + MULTIPART_FRAMING_BYTES  # the session's latest upload only
    assert growth < FLOOD_GROWTH_LIMIT_MB, f"the server grew by {growth:.0f} MB"
    assert len(latencies) >= 3 and {status for _, status in watch.answers} == {200}
    assert latencies[-1] < HEALTH_SLOWEST_S
