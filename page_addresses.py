"""Addresses that name no page go to the app's own "Page not found" (pages/not_found.py).

Streamlit answers every address it has no route for with its index page, whose scripts are
linked relative to the address ("./static/js/..."). Under a multi-segment address such as
/etc/passwd the browser asks for /etc/static/js/..., gets the index page again instead of a
script, and shows a blank page. This middleware answers such addresses with a redirect:
  * /train/ (a page with a trailing slash) -> /train;
  * /etc/passwd, /a/b/c, /train/x -> /not-found, which says so and links home.
Single-segment addresses are Streamlit's to judge (an unknown one shows its own "page not
found" over the home page), and any address with a segment of its own routes
(`STREAMLIT_ROUTES`) passes untouched: the frontend probes /<page>/_stcore/health and
/<page>/_stcore/stream to find the server's base path, and a redirect there breaks the app.
The REST API's addresses, /v1/... and /api/... (`API_ROUTES`, api_routes.py), pass as well.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

NOT_FOUND = "/not-found"  # pages/not_found.py's url_path in streamlit_app.py
# First segments of Streamlit 1.67's own multi-segment routes (starlette_routes.py and
# starlette_static_routes.py: core, media, components, its assets, the app's static files).
STREAMLIT_ROUTES = frozenset({"_stcore", "static", "component", "media", "app"})
# First segments of the REST API's addresses (api_routes.py): answered there, in JSON.
API_ROUTES = frozenset({"v1", "api"})


def redirect_for(path: str) -> str | None:
    """Where to send a browser that asked for `path`, or None to let Streamlit answer."""
    parts = path.strip("/").split("/")
    if parts[0] in API_ROUTES and path.startswith(f"/{parts[0]}"):
        return None  # the REST API's (api_routes.py), which answers unknown ones in JSON
    if STREAMLIT_ROUTES.intersection(parts) or path in ("", "/"):
        # Streamlit's routes, and its frontend's probes of them under the page's address
        # (it asks /compare/_stcore/health while it works out the server's base path).
        return None
    if len(parts) == 1:
        return f"/{parts[0]}" if path.endswith("/") else None
    return NOT_FOUND


class PageAddresses:
    """ASGI middleware: GET and HEAD requests for addresses that name no page are redirected
    (see the module docstring); everything else goes on to Streamlit as it came."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            target = redirect_for(scope["path"])
            if target is not None:
                await RedirectResponse(target, status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)
