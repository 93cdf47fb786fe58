"""The drawing canvases fit every window: a canvas's column never narrower than the canvas
(Streamlit's columns are shares of the width, so at 1024 px a third was 156 px and cut the
280 px canvas in half), and the canvas's own toolbar hidden. That toolbar floated over the
top 25 px of the canvas, and its unlabelled icons (send, undo, redo, a second Clear) said
nothing to a visitor; the page's Clear stays, and pen_up.py still presses the hidden send
button (a click on a hidden button works). The toolbar lives in the component's shadow root,
out of reach of the page's styles, so a script puts a style into each canvas's root.
"""

from __future__ import annotations

import streamlit as st

CANVAS_BOX = "draw_canvas_box"  # the key of the container that holds the one-digit canvas
MIN_COLUMN_PX = 296  # the canvas (280 px) and the column's own padding

STYLE = f"""
<style>
[data-testid="stColumn"]:has(.st-key-{CANVAS_BOX}) {{ min-width: {MIN_COLUMN_PX}px; }}
@media (min-width: 641px) {{  /* side by side (narrower, Streamlit stacks the columns) */
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-{CANVAS_BOX}) {{
    flex-wrap: nowrap;
  }}
}}
</style>
"""

SCRIPT = """
<script>
(() => {
  if (window.mnistStudioCanvasFit) return;  // once per page, however often this reruns
  window.mnistStudioCanvasFit = true;
  const style = ".dc-toolbar { display: none !important; }";
  const fit = () => {
    for (const host of document.querySelectorAll(".stElementContainer div")) {
      const root = host.shadowRoot;
      if (!root || root.mnistStudioFitted || !root.querySelector(".dc-root")) continue;
      const sheet = document.createElement("style");
      sheet.textContent = style;
      root.appendChild(sheet);
      root.mnistStudioFitted = true;
    }
  };
  // A new canvas (Clear makes one) fills its shadow root after it is added to the page, with
  // no change to the page that an observer would see: look every 200 ms (a few hundred divs).
  setInterval(fit, 200);
  fit();
})();
</script>
"""


# Every page: below 1200 px the main block's side padding (5 rem each side in the wide layout)
# shrinks to 1.5 rem, which gives a 1024 px window 112 px more: room for the 600 px number
# canvas, Compare's usual columns and the Train form beside its live panel.
PAGE_STYLE = """
<style>
@media (max-width: 1200px) {
  [data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; }
}
</style>
"""


def fit_page() -> None:
    """The page-wide style (the entry point puts it on every page; it takes no space)."""
    st.html(PAGE_STYLE)


def fit_canvases() -> None:
    """Put the style and the script on the page (they take no space)."""
    st.html(STYLE)
    st.html(SCRIPT, unsafe_allow_javascript=True)
