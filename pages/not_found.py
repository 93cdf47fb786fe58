"""Not found: where the server sends an address that names no page (e.g. /etc/passwd).

Hidden from the menu. The address asked for is not echoed: it is the visitor's (or a link
maker's) text, and the page has nothing to say about it beyond "there is no such page".
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from pages import shared  # noqa: F401  (every page imports it first: see its end)

st.title("Page not found")
st.info("There is no page at this address. The app's pages are in the menu on the left.")
try:
    st.page_link(
        Path(__file__).with_name("home.py"), label="Go to the home page", icon=":material/home:"
    )
except StreamlitAPIException:  # the page run on its own (tests): a plain link
    st.markdown("[Go to the home page](/)")
