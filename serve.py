"""MNIST Studio's server: `streamlit run serve.py` (what `make run` does).

The app itself is streamlit_app.py; this wraps it in `st.App` for one thing plain
`streamlit run streamlit_app.py` cannot do: work before the first visitor arrives.
  * Before the server accepts connections: the imports and cached data the home page
    needs (`shared.warm_up`), so the first visitor's home page is as quick as later ones.
  * In the background once the first page has been served: TensorFlow, the shipped model
    and its test-set scores (`shared.warm_up_default_model`), so that the
    first Draw or Evaluate visit does not wait for them. `MNIST_STUDIO_WARM_MODEL=0` turns
    this off.
It also puts `upload_guard.UploadGuard` in front of Streamlit's upload endpoint: in demo
mode (`MNIST_STUDIO_DEMO=1`) uploads are limited to the demo's cap (Streamlit's own
`server.maxUploadSize` lowered to it as well), so many a minute per session and per address,
and so many bytes held; in every mode each session keeps only its latest upload, and the
files of sessions that are gone are released.
And `page_addresses.PageAddresses` sends an address that names no page (/etc/passwd) to the
app's own "Page not found" instead of the blank page Streamlit would show.
It serves the REST API (api_routes.py: TensorFlow Serving's /v1/models/... and /api/read)
beside the pages, sharing their models; `MNIST_STUDIO_API=0` switches it off.
`streamlit run streamlit_app.py` still works, without the warm-up, the two guards and the API.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

import streamlit as st
from starlette.middleware import Middleware
from streamlit import config

import api_routes
from mnist_core import paths
from no_delay import no_delay_on_accept
from page_addresses import PageAddresses
from pages import shared
from upload_guard import StreamlitStore, UploadGuard, UploadLedger, UploadLimits, sweep_periodically

no_delay_on_accept()  # before uvicorn accepts a connection: see no_delay.py


def upload_limits() -> UploadLimits:
    """The demo's limits with MNIST_STUDIO_DEMO=1; otherwise only the releasing of files."""
    release_after_s = config.get_option("server.disconnectedSessionTTL")  # Streamlit's own wait
    if paths.demo_mode():
        return UploadLimits.demo(shared.DEMO_MAX_UPLOAD_MB, release_after_s)
    return UploadLimits(release_after_s=release_after_s)


uploads = UploadLedger(upload_limits(), StreamlitStore())


@asynccontextmanager
async def warm_up(app):
    if uploads.limits.max_file_bytes is not None:
        # Streamlit's own check (the exact file size) with the demo's cap; UploadGuard refuses
        # bigger bodies first, and still does if a reloaded config.toml undoes this.
        config.set_option("server.maxUploadSize", shared.DEMO_MAX_UPLOAD_MB, "serve.py (demo mode)")
    sweeper = asyncio.create_task(sweep_periodically(uploads))
    try:
        await asyncio.to_thread(shared.warm_up)
        if os.environ.get("MNIST_STUDIO_WARM_MODEL", "1") != "0":
            shared.want_model_warm_up()  # started by streamlit_app.py once a page has run
        yield
    finally:
        sweeper.cancel()


app = st.App(
    "streamlit_app.py",
    lifespan=warm_up,
    routes=api_routes.routes(),
    middleware=[
        Middleware(api_routes.JsonErrors),
        Middleware(UploadGuard, ledger=uploads),
        Middleware(PageAddresses),
    ],
)
