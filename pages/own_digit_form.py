"""Draw's "Not right? Tell it the digit": keep what the model saw with its true label in your
digits (`mnist_core.own_digits`; the page that lists them is pages/your_digits.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from mnist_core import own_digits
from mnist_core.errors import StudioError
from pages import shared

YOUR_DIGITS_PAGE = "pages/your_digits.py"


def store() -> own_digits.Store:
    """This visitor's set: the browser session's in the hosted demo, else the folder on disk."""
    return own_digits.open_store(st.session_state)


def tell_the_digit(image: np.ndarray, guess: int, where: str) -> None:
    """The form under a prediction: `image` float32 (28, 28) is what the model saw, `guess`
    what it answered, `where` "draw" or "upload" (kept as the digit's source)."""
    with st.expander("Not right? Tell it the digit", icon=":material/edit_note:"):
        label = st.segmented_control(
            "The digit you meant",
            list(range(10)),
            key=f"true_digit_{where}",
            help="Kept with what the model saw in your digits, to test models on and to "
            "fine-tune one.",
        )
        fingerprint = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        kept = st.session_state.get(f"kept_{where}")
        if st.button("Add to your digits", key=f"keep_{where}", disabled=label is None):
            if kept == (fingerprint, label):
                st.info(f"This drawing is already in your digits as a {label}.")
            else:
                try:
                    store().add(image, label, where)
                except StudioError as exc:
                    shared.show_error(exc)
                    return
                st.session_state[f"kept_{where}"] = (fingerprint, label)
                note = "" if label != guess else " (the model read it right, though)"
                st.success(f"Kept as a {label} in your digits{note}.", icon=":material/check:")
        # A button, not st.page_link: a link needs st.navigation, which the Draw page's tests
        # (run without the entry point) do not have.
        if st.button("See your digits", key=f"see_own_{where}", icon=":material/collections:"):
            st.switch_page(YOUR_DIGITS_PAGE)
