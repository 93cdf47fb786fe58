"""The REST API's routes on the app's own server (serve.py passes them to `st.App(routes=...)`).

The logic is `mnist_core.api` (TensorFlow Serving's REST API and /api/read); this module only
does what a server must around it:
  * bodies capped: JSON up to `api.MAX_JSON_BYTES` (16 MB: 1,024 images as text), pictures
    up to the demo's upload cap (`shared.DEMO_MAX_UPLOAD_MB`, 2 MB, plus a multipart form's
    framing); a larger body is answered 413 by its Content-Length before it is read, or as
    soon as it grows past the cap;
  * in demo mode (`MNIST_STUDIO_DEMO=1`) at most `MNIST_STUDIO_API_RATE` requests a minute
    per client address (default 120; 0 switches the limit off), then 429 with Retry-After;
  * every answer is JSON; errors are `{"error": "..."}` with a 4xx status; anything raised
    is caught here, logged, and answered in one line, never with a traceback;
  * no cookies, no session: each request stands alone;
  * one log line per request: method, path, status, milliseconds (logger "mnist_studio.api");
  * prediction runs in a worker thread, never on the server's event loop.
`MNIST_STUDIO_API=0` switches the API off: its addresses then answer 404.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mnist_core import api, paths
from upload_guard import (
    MB,
    MULTIPART_FRAMING_BYTES,
    WINDOW_S,
    _client_of,
    _content_length,
    recent_times,
    wait_s,
)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DEMO_REQUESTS_PER_MINUTE = 120  # per client address: two a second, far more than a person
DRAIN_LIMIT_BYTES = 32 * MB  # a refused body up to this is read (so the client sees the 413)
# A request whose body is at most this, and whose model is loaded already, is answered on the
# event loop (one 28x28 instance is about 16 KB of JSON, answered in about 1 ms); bigger ones,
# and a first request that loads a model (seconds), in a worker thread. With 8 clients
# at once, worker threads fighting the loop for the GIL gave p95 57-92 ms and 230-280
# requests/s; on the loop, 29-42 ms and 400-430 requests/s (3 runs each, benchmarks/api_bench.py).
INLINE_BODY_BYTES = 64 * 1024


def _logger() -> logging.Logger:
    log = logging.getLogger("mnist_studio.api")
    if not log.handlers:  # Streamlit configures only its own loggers: say where lines go
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


_log = _logger()


def enabled() -> bool:
    """`MNIST_STUDIO_API=0` (or false/no/off) switches the API off."""
    return os.environ.get("MNIST_STUDIO_API", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def requests_per_minute() -> int | None:
    """The per-address limit: in demo mode only, `MNIST_STUDIO_API_RATE` (default 120)."""
    if not paths.demo_mode():
        return None
    try:
        limit = int(os.environ.get("MNIST_STUDIO_API_RATE", DEMO_REQUESTS_PER_MINUTE))
    except ValueError:
        limit = DEMO_REQUESTS_PER_MINUTE
    return limit if limit > 0 else None


def max_picture_bytes() -> int:
    from pages.shared import DEMO_MAX_UPLOAD_MB

    return DEMO_MAX_UPLOAD_MB * MB


class RateLimit:
    """At most `limit` requests per `window_s` per client (a sliding window, as
    upload_guard's). Runs on the event loop only, so needs no lock."""

    def __init__(self, limit: int | None, window_s: float = WINDOW_S, clock=time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self.recent: dict[str, deque[float]] = {}

    def wait_s(self, client: str) -> float | None:
        """None to admit the request (counted), else the seconds until one is admitted."""
        if self.limit is None:
            return None
        now = self.clock()
        times = recent_times(self.recent, client, now, self.window_s)
        wait = wait_s(times, self.limit, self.window_s, now)
        if wait is not None:
            return float(wait)
        times.append(now)
        if len(self.recent) > 10_000:  # forget idle addresses
            for key in [k for k, t in self.recent.items() if not t or t[-1] <= now - self.window_s]:
                del self.recent[key]
        return None


class _TooLarge(Exception):
    pass


async def _body(request: Request, cap: int) -> bytes:
    """The whole body, or _TooLarge once it passes `cap` (read on, and dropped, up to
    DRAIN_LIMIT_BYTES so that the client gets the answer)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            if size <= DRAIN_LIMIT_BYTES:
                async for more in request.stream():
                    size += len(more)
                    if size > DRAIN_LIMIT_BYTES:
                        break
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, content: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        content, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


class Api:
    """The one endpoint behind every /v1/... and /api/... address."""

    def __init__(self, rate_limit: RateLimit | None = None):
        self.rate = rate_limit or RateLimit(requests_per_minute())

    async def __call__(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            response = await self._answer(request)
        except Exception as exc:  # nothing gets past here as a traceback
            _log.exception("API request %s %s failed", request.method, request.url.path[:200])
            response = _answer(
                400, {"error": f"The request could not be served ({type(exc).__name__})."}
            )
        _log.info(
            "%s %s %d %.1f ms",
            request.method,
            request.url.path[:200],
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _answer(self, request: Request) -> JSONResponse:
        path = request.url.path
        if not enabled():
            return await _refused(
                request, 404, {"error": "The REST API is switched off on this server."}
            )
        wait = self.rate.wait_s(_client_of(request.scope))
        if wait is not None:
            return await _refused(
                request,
                429,
                {
                    "error": f"Too many requests: at most {self.rate.limit} a minute from one address "
                    f"in this demo; try again in {wait:.0f} s."
                },
                {"Retry-After": str(int(wait))},
            )
        allowed = api.allowed_method(path)
        if allowed is None or not (
            request.method == allowed or (request.method, allowed) == ("HEAD", "GET")
        ):  # no such address (404), or the wrong method (405)
            status, content = api.handle({"method": request.method, "path": path})
            return await _refused(request, status, content, {"Allow": allowed} if allowed else None)
        picture_route = allowed is not None and path.startswith("/api/")
        cap = max_picture_bytes() + MULTIPART_FRAMING_BYTES if picture_route else api.MAX_JSON_BYTES
        too_large = {"error": f"The request body is over the limit of {cap / MB:.3g} MB."}
        length = _content_length(request.scope)
        if length is not None and length > cap:
            return await _refused(request, 413, too_large)
        try:
            body = await _body(request, cap) if allowed == "POST" else b""
        except _TooLarge:
            return _answer(413, too_large, {"Connection": "close"})
        picture = None
        if picture_route and request.headers.get("content-type", "").startswith(
            "multipart/form-data"
        ):
            request._body = body  # form() parses what was read
            try:
                form = await request.form(max_files=1, max_fields=10)
            except Exception:  # python-multipart's and Starlette's errors alike
                return _answer(400, {"error": "The multipart form could not be read."})
            field = form.get("image")
            if field is None or isinstance(field, str):
                return _answer(400, {"error": "The form has no file field 'image'."})
            picture = await field.read()
            if len(picture) > max_picture_bytes():
                return _answer(
                    413, {"error": f"The picture is over {max_picture_bytes() / MB:g} MB."}
                )
        elif picture_route and len(body) > max_picture_bytes():
            return _answer(413, {"error": f"The picture is over {max_picture_bytes() / MB:g} MB."})
        call = {
            "method": request.method,
            "path": path,
            "query": dict(request.query_params),
            "body": body,
            "picture": picture,
        }
        if len(body) <= INLINE_BODY_BYTES and api.model_ready(path, call["query"]):
            status, content = api.handle(call)
        else:
            status, content = await run_in_threadpool(api.handle, call)
        return _answer(status, content)


async def _refused(
    request: Request, status: int, content: dict, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An answer given before the body is read. A body announced (Content-Length) at up to
    DRAIN_LIMIT_BYTES is read and dropped first, so that a client still sending it gets the
    answer rather than a broken pipe; a bigger one is not read, and the connection closes."""
    length = _content_length(request.scope)
    if length is not None and length > DRAIN_LIMIT_BYTES:
        headers = {**(headers or {}), "Connection": "close"}
    elif length:
        async for _ in request.stream():
            pass
    return _answer(status, content, headers)


def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/api/")) or path in ("/v1", "/api")


class JsonErrors:
    """ASGI middleware, outermost in serve.py: an error on an API address that Streamlit's
    own middleware gave in plain text (its path check answers /v1/models/..%2Fetc with
    "Bad Request") is turned into `{"error": "..."}` like the API's own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not _is_api(scope.get("path", "")):
            return await self.app(scope, receive, send)
        held: dict | None = None
        text: list[bytes] = []

        async def watched(message):
            nonlocal held
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", ()))
                plain = not headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and plain:
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                text.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                reason = b"".join(text).decode(errors="replace").strip()[:200] or "Refused"
                response = _answer(held["status"], {"error": reason})
                await send({"type": "http.response.start", "status": response.status_code,
                            "headers": response.raw_headers})  # fmt: skip
                await send({"type": "http.response.body", "body": response.body})
                return
            await send(message)

        await self.app(scope, receive, watched)


def routes() -> list[Route]:
    """The API's routes for `st.App(routes=...)`: every method on /v1/... and /api/...,
    so that each wrong one is answered here in JSON (405), not by Streamlit."""
    endpoint = Api().__call__  # a method: Starlette hands it a Request
    return [
        Route("/v1/{rest:path}", endpoint, methods=METHODS),
        Route("/api/{rest:path}", endpoint, methods=METHODS),
    ]
