"""MNIST Studio's server: `streamlit run serve.py` (what `make run` does).

The app itself is streamlit_app.py; this wraps it in `st.App` for one thing plain
`streamlit run streamlit_app.py` cannot do: work before the first visitor arrives.
  * Before the server accepts connections: the imports and cached data the home page
    needs (`shared.warm_up`), so the first visitor's home page is as quick as later ones.
  * In the background once the first page has been served: TensorFlow, the shipped model
    and its test-set scores (`shared.warm_up_default_model`), so that the
    first Draw or Evaluate visit does not wait for them. `MNIST_STUDIO_WARM_MODEL=0` turns
    this off.
`streamlit run streamlit_app.py` still works, without the warm-up.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def warm_up(app):
    from pages import shared

    await asyncio.to_thread(shared.warm_up)
    if os.environ.get("MNIST_STUDIO_WARM_MODEL", "1") != "0":
        shared.want_model_warm_up()  # started by streamlit_app.py once a page has run
    yield


app = st.App("streamlit_app.py", lifespan=warm_up)
