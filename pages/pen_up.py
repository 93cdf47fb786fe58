"""The drawing canvases send a stroke the moment the pen lifts, not 200 ms later.

streamlit-drawable-canvas sends a finished stroke to the app through a 200 ms debounce (its
`sender.schedule`), which is most of the time between lifting the pen and seeing the
prediction. Its toolbar's "Update the app with this drawing" button sends at once (its
`sender.now`, which also cancels the pending send, so each stroke is still sent once). The
script below presses that button for the canvas a stroke was drawn on, as soon as the
stroke is finished: the pen lifted, Fabric's path made (a task later). The canvas is in
the component's shadow root, so the script finds it through the event's composed path.
"""

from __future__ import annotations

import streamlit as st

SEND_BUTTON = "Update the app with this drawing"  # the toolbar button's title (0.13.0)

SCRIPT = """
<script>
(() => {
  if (window.mnistStudioPenUp) return;  // one listener per page, however often this reruns
  window.mnistStudioPenUp = true;
  let drawingOn = null;  // the canvas component a stroke started on
  document.addEventListener("pointerdown", (event) => {
    // The canvas lives in its component's shadow root: the real target is the path's first.
    const canvas = event.composedPath()[0];
    drawingOn = canvas instanceof HTMLCanvasElement && canvas.classList.contains("upper-canvas")
      ? canvas.closest(".dc-root") : null;
  }, true);
  document.addEventListener("pointerup", () => {
    const root = drawingOn;
    drawingOn = null;
    if (!root) return;
    setTimeout(() => root.querySelector('button[title="SEND_BUTTON"]')?.click(), 0);
  }, true);
})();
</script>
""".replace("SEND_BUTTON", SEND_BUTTON)


def send_strokes_at_once() -> None:
    """Put the script on the page (it takes no space and does nothing without a canvas)."""
    st.html(SCRIPT, unsafe_allow_javascript=True)
