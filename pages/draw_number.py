"""Draw page, whole numbers: a wide canvas (or a picture) split into digits, each boxed and
read left to right with its own confidence (`mnist_core.numbers.read_number`).

Also the picture with boxes drawn on it, which the one-digit Upload tab uses for its box.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from mnist_core.errors import StudioError
from pages import explorer, shared

NUMBER_SIZE = (600, 200)  # px (width, height) of the wide canvas: room for five or six digits
NARROW_SIZE = (320, 200)  # px: the canvas where the page is narrower (a phone): three or four
NUMBER_AREA = "number_canvas_area"  # keys of the containers that hold the two canvases
WIDE_BOX, NARROW_BOX = "number_canvas_wide", "number_canvas_narrow"
WIDE_FROM_PX = 616  # the area's width from which the wide canvas shows (600 px and a margin)
SHOWN_WIDTH = 600  # px: a picture with boxes is drawn at most this wide by default
BOXED_WIDTH = 400  # px: the number's picture with its boxes, beside the number read
TILE_SCALE = 3  # each digit's 28x28 model input shown at 84x84
BOX = (255, 64, 64)  # the boxes' colour: a red that shows on black ink, white paper and photos
DOUBT = (255, 176, 0)  # a box around something the checker says is not a digit
NUMBER_HINT = (
    "Write a number, digits side by side, in the wide black area: each digit is found, "
    "boxed and read when you lift the pen."
)


# Streamlit cannot know the window's width, so the page holds both canvases and the browser
# shows the one that fits the area's width (a CSS container query): the wide one on a
# projector, laptop or monitor, the narrow one on a phone. CSS scaling of one canvas would
# move the pen away from where Fabric draws.
AREA_STYLE = f"""
<style>
.st-key-{NUMBER_AREA} {{ container-type: inline-size; container-name: number-area; }}
@container number-area (max-width: {WIDE_FROM_PX - 1}px) {{
  .st-key-{WIDE_BOX} {{ display: none; }}
}}
@container number-area (min-width: {WIDE_FROM_PX}px) {{
  .st-key-{NARROW_BOX} {{ display: none; }}
}}
</style>
"""


def read_number_canvas(stroke_width: int) -> np.ndarray | None:
    """The number drawn, as RGBA uint8 (height, width, 4), or None before anything was sent:
    from whichever of the two canvases (wide, narrow) was drawn on last."""
    st.html(AREA_STYLE)
    with st.container(key=NUMBER_AREA):
        with st.container(key=WIDE_BOX):
            wide = drawing_canvas(stroke_width, *NUMBER_SIZE, "number_canvas")
        with st.container(key=NARROW_BOX):
            narrow = drawing_canvas(stroke_width, *NARROW_SIZE, "number_canvas_narrow")
    drawings = {"wide": wide, "narrow": narrow}
    seen = st.session_state.setdefault("number_canvas_seen", {})
    for name, drawing in drawings.items():  # the one whose drawing changed in this run
        ink = None if drawing is None else hash(drawing.tobytes())
        if ink != seen.get(name):
            seen[name] = ink
            if drawing is not None:
                st.session_state.number_canvas_last = name
    last = st.session_state.get("number_canvas_last")
    if last is not None and drawings[last] is not None:
        return drawings[last]
    return wide if wide is not None else narrow


def drawing_canvas(stroke_width: int, width: int, height: int, name: str) -> np.ndarray | None:
    """A black canvas drawn on in white, as RGBA uint8 (height, width, 4), or None before
    anything was sent. Its key changes with `canvas_version`: Clear makes a new, empty one."""
    # Imported here: the module registers its component on import, which needs a Streamlit
    # runtime (the page has one; tests of `boxed` do not).
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        drawing_mode="freedraw",
        update_streamlit=True,
        return_image_data=True,
        width=width,
        height=height,
        key=f"{name}_{st.session_state.get('canvas_version', 0)}",
    )
    return result.image_data


def boxed(
    picture, boxes: list[tuple], colours: list[tuple] | None = None, width: int = SHOWN_WIDTH
) -> Image.Image:
    """`picture` (PIL image or array as `to_grayscale` takes) as RGB, at most `width` px wide
    (the width it is shown at), with each box (x0, y0, x1, y1 in the picture's pixels, x1/y1
    excluded) drawn just outside what it holds, in a line about 1% of `width` thick."""
    from mnist_core.images import to_grayscale

    if isinstance(picture, Image.Image) and picture.mode in ("RGB", "L", "RGBA", "P"):
        shown = picture.convert("RGB")
    else:
        gray = to_grayscale(picture)  # 16-bit, float and odd modes: grey 0..1
        shown = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    scale = min(1.0, width / shown.width)
    if scale < 1:
        shown = shown.resize((width, max(1, round(shown.height * scale))), Image.BILINEAR)
    line = max(3, round(width / 100))
    draw = ImageDraw.Draw(shown)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        colour = colours[i] if colours else BOX
        draw.rectangle(
            (x0 * scale - line, y0 * scale - line, x1 * scale + line - 1, y1 * scale + line - 1),
            outline=colour,
            width=line,
        )
    return shown


def read(run, image):
    """`run`'s NumberReading of `image`, or None after a one-line error."""
    from mnist_core.numbers import read_number

    try:
        return read_number(shared.predictor(run.model_path), image)
    except (StudioError, OSError) as exc:
        shared.show_error(exc)
        return None


def show_number(image, run, where: str) -> None:
    """The number in `image`: the text, the picture with each digit boxed, and one tile per
    digit with what the model saw and how sure it is."""
    number = read(run, image)
    if number is None:
        return
    if not number.found:
        st.info(NUMBER_HINT if where == "draw" else "No digits found in this picture.")
        return
    doubtful = [d for d in number.digits if not d.is_digit]
    text = "".join("?" if not d.is_digit else str(d.digit) for d in number.digits)
    reading, picture = st.columns([1, 2])
    with reading:
        st.metric(
            "The number",
            text,
            f"{number.confidence:.0%} sure of every digit",
            delta_color="off",
            delta_arrow="off",
            help="The chance that every digit is right: the digits' confidences multiplied.",
        )
        if doubtful:
            st.warning(
                f"{len(doubtful)} of the {len(number.digits)} pieces found (marked ? and "
                "boxed in orange) don't look like digits to this app."
            )
    colours = [BOX if d.is_digit else DOUBT for d in number.digits]
    picture.image(
        boxed(image, [d.box for d in number.digits], colours, width=BOXED_WIDTH),
        caption="Each digit found, boxed",
    )
    tiles = st.columns(max(len(number.digits), 4))
    for tile, d in zip(tiles, number.digits):
        with tile:
            st.image(explorer.enlarge(d.input28, TILE_SCALE))
            if d.is_digit:
                st.markdown(f"**{d.digit}** · {d.confidence:.0%}")
            else:
                st.markdown(f"**?** · not a digit (best guess {d.digit})")
            if d.cut:
                st.caption("cut from a touching neighbour")
