"""page_addresses: which addresses are sent where, and the middleware around a tiny app."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from page_addresses import NOT_FOUND, PageAddresses, redirect_for


@pytest.mark.parametrize(
    "path, target",
    [
        ("/", None),
        ("/train", None),  # pages, and unknown single names, are Streamlit's to judge
        ("/no-such-page", None),
        ("/favicon.png", None),
        ("/train/", "/train"),
        ("/etc/passwd", NOT_FOUND),
        ("/a/b/c", NOT_FOUND),
        ("/train/x", NOT_FOUND),
        ("//etc//passwd", NOT_FOUND),
        ("/_stcore/health", None),  # Streamlit's own routes pass
        ("/static/js/index.js", None),
        ("/component/streamlit_drawable_canvas/index.html", None),
        ("/media/abc.png", None),
        ("/_stcore/upload_file/session/file", None),
        ("/compare/_stcore/health", None),  # the frontend's probe for a base path
        ("/not-found/_stcore/stream", None),
        ("/v1/models/default", None),  # the REST API's addresses (api_routes.py) pass
        ("/v1/models/default/metadata", None),
        ("/v1/models/default/versions/1:predict", None),
        ("/v1/no/such/thing", None),
        ("/api/read", None),
        ("/api/x/y", None),
        ("/a/v1/models/default", NOT_FOUND),  # only as the first segment
    ],
)
def test_where_each_address_goes(path, target):
    assert redirect_for(path) == target


def call(app, method: str, path: str) -> tuple[int, dict[str, str], str]:
    """One request through an ASGI app: (status, headers, body text)."""
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [], "scheme": "http", "server": ("test", 80),
             "root_path": "", "http_version": "1.1"}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], headers, body.decode()


def test_the_middleware_redirects_page_visits_and_passes_everything_else():
    async def echo(request):
        return PlainTextResponse(f"{request.method} {request.url.path}")

    app = PageAddresses(
        Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "HEAD", "PUT"])])
    )
    status, headers, _ = call(app, "GET", "/etc/passwd")
    assert status == 303 and headers["location"] == NOT_FOUND
    assert call(app, "HEAD", "/train/")[1]["location"] == "/train"
    status, _, body = call(app, "GET", "/train")
    assert (status, body) == (200, "GET /train")
    assert call(app, "PUT", "/etc/passwd")[2] == "PUT /etc/passwd"  # only page visits move
    assert call(app, "GET", "/_stcore/health")[2] == "GET /_stcore/health"
