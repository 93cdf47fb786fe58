"""Pictures for the Inside page: the network as a diagram, feature maps, neuron strips,
weights and saliency overlays. Data in, picture out (uint8 RGB arrays, HTML/SVG text or a
Plotly figure); no Streamlit, no Keras, no files.

Conventions: `LayerInfo` comes from `mnist_core.explain`; an input is float32 (28, 28) in
[0, 1], white ink on black; a saliency map is float32 (28, 28), positive = evidence for the
explained digit. Signed pictures (weights, saliency) use one diverging scale: red for
positive, blue for negative, white (or the picture underneath) for zero.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from pages.figures import ACCENT, MUTED, TRAIN_COLOUR, styled

# Layers folded into the box of the layer before them: they change no shape worth a box.
HELPERS = frozenset(
    {
        "Activation",
        "BatchNormalization",
        "Dropout",
        "ELU",
        "GaussianDropout",
        "GaussianNoise",
        "LayerNormalization",
        "LeakyReLU",
        "PReLU",
        "ReLU",
        "Softmax",
        "SpatialDropout2D",
    }
)
CONV = frozenset({"Conv2D", "DepthwiseConv2D", "SeparableConv2D"})
POOL = frozenset(
    {"MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"}
)
FLAT = frozenset({"Flatten", "Reshape"})
COLOURS = {  # one colour per kind of box, used in the diagram and the captions' legend
    "input": "#6b4f3f",
    "conv": "#1f77b4",
    "pool": "#e07b00",
    "flatten": "#7f7f7f",
    "dense": "#2a9d4b",
    "output": "#d62728",
    "other": "#9467bd",
}
ACTIVATION_WORDS = {
    "relu": "ReLU",
    "sigmoid": "sigmoid",
    "softmax": "softmax",
    "tanh": "tanh",
    "elu": "ELU",
    "gelu": "GELU",
    "leaky_relu": "leaky ReLU",
    "selu": "SELU",
    "swish": "swish",
    "silu": "swish",
}
FOR_COLOUR = np.array([214, 39, 40], np.float32)  # red: evidence for the digit
AGAINST_COLOUR = np.array([31, 119, 180], np.float32)  # blue: evidence against it


# --------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class Block:
    """One box of the diagram: a layer that changes the data's shape or holds weights,
    with the helper layers after it (batch norm, activation, dropout) folded in.

    `layers[0]` is the main layer; `shape` and the activations shown are the last layer's
    output (what the next box receives)."""

    layers: tuple  # of explain.LayerInfo
    category: str  # a key of COLOURS

    @property
    def main(self):
        return self.layers[0]

    @property
    def last(self):
        return self.layers[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.last.shape

    @property
    def params(self) -> int:
        return sum(info.params for info in self.layers)


def group_layers(layers: Sequence) -> list[Block]:
    """The model's layers (explain.LayerInfo, in order) as diagram boxes."""
    groups: list[list] = []
    for info in layers:
        if info.kind in HELPERS and groups:
            groups[-1].append(info)
        else:
            groups.append([info])
    blocks = [Block(tuple(g), _category(g[0].kind)) for g in groups]
    if blocks and blocks[-1].category == "dense":
        blocks[-1] = Block(blocks[-1].layers, "output")
    return blocks


def _category(kind: str) -> str:
    if kind in CONV:
        return "conv"
    if kind == "Dense":
        return "dense"
    if kind in POOL:
        return "pool"
    if kind in FLAT:
        return "flatten"
    return "other"


def shape_words(shape: Sequence[int]) -> str:
    """(24, 24, 32) -> "32 maps of 24×24"; (128,) -> "128 numbers"."""
    if len(shape) == 3:
        h, w, c = shape
        return f"{c:,} map{'s' if c != 1 else ''} of {h}×{w}"
    return f"{math.prod(shape):,} numbers"


def pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) >= 2:
        return int(value[0]), int(value[1])
    return int(value), int(value)


def block_words(block: Block, configs: Mapping[str, Mapping]) -> tuple[str, str, str]:
    """(title, what it does, what is folded in) in plain words. `configs`: each layer's Keras
    config by layer name (filters, kernel_size, strides, units, pool_size, rate...)."""
    main = block.main
    config = configs.get(main.name, {})
    category = block.category
    if category == "conv":
        kh, kw = pair(config.get("kernel_size", 0))
        stride = pair(config.get("strides", 1))[0]
        what = f"{config.get('filters', main.shape[-1])} filters {kh}×{kw}"
        what += f", stride {stride}" if stride > 1 else ""
        title = "Convolution"
    elif category == "output":
        title, what = "Output", f"{main.shape[-1]} scores, one per digit"
    elif category == "dense":
        title, what = "Dense", f"{main.shape[-1]:,} neurons"
    elif category == "pool":
        if main.kind.startswith("Global"):
            what = "one number per map"
        else:
            ph, pw = pair(config.get("pool_size", 2))
            verb = "keeps the strongest" if main.kind.startswith("Max") else "averages"
            what = f"{verb} of each {ph}×{pw}"
        title = "Pooling"
    elif category == "flatten":
        title, what = "Flatten", f"lays it all out as {math.prod(main.shape):,} numbers"
    else:
        title, what = main.kind, shape_words(main.shape)
    extras = []
    if main.activation and main.activation != "linear":
        extras.append(ACTIVATION_WORDS.get(main.activation, main.activation))
    for helper in block.layers[1:]:
        if helper.kind == "BatchNormalization":
            extras.append("batch norm")
        elif helper.kind in ("Dropout", "SpatialDropout2D", "GaussianDropout"):
            rate = configs.get(helper.name, {}).get("rate")
            share = f" {rate:.0%}" if isinstance(rate, (int, float)) else ""
            extras.append(f"dropout{share}")
        elif helper.activation:
            extras.append(ACTIVATION_WORDS.get(helper.activation, helper.activation))
        else:
            extras.append(helper.kind)
    return title, what, " · ".join(extras)


def network_html(
    blocks: Sequence[Block],
    configs: Mapping[str, Mapping],
    networks: int = 1,
    total: int | None = None,
) -> str:
    """The network as a row of boxes, left to right, that wraps on narrow screens: one box
    per block (kind in plain words, output shape, parameters), coloured by kind. For a
    model that averages `networks` > 1 networks, `blocks` are its first network's and
    `total` is the whole model's parameter count (all its networks)."""
    boxes = [
        _box(
            "input",
            "Your picture",
            "28×28 pixels",
            "",
            "784 numbers",
            None,
            "the 28×28 picture, one number per pixel",
        )
    ]
    for block in blocks:
        title, what, extras = block_words(block, configs)
        names = ", ".join(info.name for info in block.layers)
        boxes.append(
            _box(block.category, title, what, extras, shape_words(block.shape), block.params, names)
        )
    arrow = '<span style="padding:0 4px;color:#9aa5b1;font-size:20px" aria-hidden="true">→</span>'
    items = [
        f'<div style="display:flex;align-items:stretch">{arrow if i else ""}{box}</div>'
        for i, box in enumerate(boxes)
    ]
    drawn = sum(block.params for block in blocks)
    if networks > 1:
        whole = drawn * networks if total is None else total
        words = (
            f"In all: <b>{whole:,} parameters</b> in its {networks} networks, the numbers "
            f"they learned from the training pictures; the first network, drawn here, has "
            f"{drawn:,}."
        )
    else:
        words = (
            f"In all: <b>{drawn:,} parameters</b>, the numbers it learned from the training "
            "pictures."
        )
    return (
        '<div style="display:flex;flex-wrap:wrap;row-gap:8px;font-size:14px;'
        f'line-height:1.35" role="list" aria-label="The network, layer by layer">{"".join(items)}'
        "</div>"
        f'<p style="margin:8px 0 0 0;font-size:14px">{words}</p>'
    )


def _box(
    category: str, title: str, what: str, extras: str, shape: str, params: int | None, tip: str
) -> str:
    colour = COLOURS[category]
    e = html.escape
    lines = [
        f'<div style="font-weight:600;color:{colour}">{e(title)}</div>',
        f"<div>{e(what)}</div>",
    ]
    if extras:
        lines.append(f'<div style="font-size:12px;opacity:.75">+ {e(extras)}</div>')
    lines.append(f'<div style="font-size:12px;margin-top:2px">→ {e(shape)}</div>')
    if params is not None:
        lines.append(f'<div style="font-size:12px;opacity:.75">{params:,} parameters</div>')
    return (
        f'<div role="listitem" title="{e(tip)}" style="border:1px solid {colour}55;'
        f"border-top:5px solid {colour};background:{colour}14;border-radius:8px;"
        f'padding:4px 8px;min-width:96px;max-width:170px">{"".join(lines)}</div>'
    )


# --------------------------------------------------------------------------- colours


def _ramp(anchors: Sequence[Sequence[int]]) -> np.ndarray:
    """uint8 (256, 3): colours interpolated evenly between the anchor colours."""
    anchors = np.asarray(anchors, np.float64)
    stops = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return (
        np.stack([np.interp(t, stops, anchors[:, k]) for k in range(3)], axis=1)
        .round()
        .astype(np.uint8)
    )


# Inferno-like (black -> purple -> orange -> pale yellow): zero stays black, as in MNIST.
SEQUENTIAL = _ramp([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)])
# Blue -> white -> red (ColorBrewer RdBu reversed): negative blue, positive red.
DIVERGING = _ramp(
    [(33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43)]
)


def colourise(values: np.ndarray, vmax: float | None = None, signed: bool | None = None):
    """uint8 RGB (..., 3) of `values`: SEQUENTIAL over [0, vmax] for values that are never
    negative, DIVERGING over [-vmax, vmax] otherwise (or as `signed` says). `vmax` defaults
    to the largest magnitude; an all-zero input comes out black (or white, signed)."""
    values = np.nan_to_num(np.asarray(values, np.float32))
    if signed is None:
        signed = bool((values < 0).any())
    top = float(np.abs(values).max()) if vmax is None else float(vmax)
    top = top if top > 0 else 1.0
    if signed:
        index = np.clip((values / top + 1.0) * 127.5, 0, 255)
        return DIVERGING[index.astype(np.uint8)]
    return SEQUENTIAL[np.clip(values / top * 255.0, 0, 255).astype(np.uint8)]


def mosaic(
    maps: np.ndarray,
    columns: int,
    scale: int,
    gap: int = 2,
    vmax: float | None = None,
    signed: bool | None = None,
) -> np.ndarray:
    """Pictures (n, h, w) as one uint8 RGB grid, row by row, each enlarged `scale` times pixel
    for pixel, `gap` white pixels apart; one colour scale for all (see `colourise`), so a
    bright tile is bright compared with the others."""
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3 or len(maps) == 0 or columns < 1 or scale < 1:
        raise ValueError(f"expected maps (n, h, w), columns >= 1, scale >= 1; got {maps.shape}")
    if signed is None:
        signed = bool((maps < 0).any())
    tiles = colourise(maps, vmax, signed)
    tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
    n, h, w, _ = tiles.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    # White between dark tiles; grey between signed ones, whose zero is white already.
    background = 150 if signed else 255
    out = np.full(
        (rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), background, np.uint8
    )
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return out


def tile_layout(n: int, side: int, width: int = 520) -> tuple[int, int]:
    """(columns, scale) for n square pictures of `side` pixels in about `width` pixels: tiles
    of about 40 to 60 pixels, at most 16 a row."""
    columns = 8 if n <= 32 else 16
    columns = max(1, min(columns, n))
    scale = max(1, min(width // columns, 60) // side)
    return columns, scale


def neuron_strip_svg(values: np.ndarray, top: int = 5, per_row: int = 32, cell: int = 14) -> str:
    """A dense layer's units as a strip of squares coloured by activation (a few rows when
    there are many), the `top` most active outlined in black (see `most_active`)."""
    values = np.nan_to_num(np.asarray(values, np.float32).ravel())
    n = len(values)
    per_row = min(per_row, n)
    rows = math.ceil(n / per_row)
    colours = colourise(values)
    step = cell + 2
    best = set(most_active(values, top))
    width, height = per_row * step + 2, rows * step + 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i in range(n):
        r, c = divmod(i, per_row)
        red, green, blue = (int(v) for v in colours[i])
        outline = ' stroke="#111" stroke-width="2"' if i in best else ""
        parts.append(
            f'<rect x="{c * step + 1}" y="{r * step + 1}" width="{cell}" height="{cell}" '
            f'rx="2" fill="rgb({red},{green},{blue})"{outline}/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def most_active(values: np.ndarray, top: int = 5) -> list[int]:
    """The indices of the `top` largest values, largest first (ties: lower index first)."""
    values = np.nan_to_num(np.asarray(values, np.float32).ravel())
    return [int(i) for i in np.argsort(-values, kind="stable")[: min(top, len(values))]]


def saliency_overlay(x28: np.ndarray, saliency: np.ndarray, scale: int = 8) -> np.ndarray:
    """uint8 RGB (28*scale, 28*scale, 3): the input as grey ink on white paper, red where the
    map says "for", blue where it says "against", the stronger the more opaque. Scaled to
    the map's own 99.5th percentile of magnitude (methods' units differ), with a gamma of
    0.6 so that weaker evidence shows too."""
    x = np.clip(np.asarray(x28, np.float32).reshape(28, 28), 0, 1)
    s = np.nan_to_num(np.asarray(saliency, np.float32).reshape(28, 28))
    paper = (1.0 - 0.55 * x)[..., None] * 255.0 * np.ones(3, np.float32)
    magnitude = np.abs(s)
    top = float(np.percentile(magnitude, 99.5))
    top = top if top > 0 else float(magnitude.max())
    # A gamma under 1 lifts the weaker evidence into view; the strongest stays the darkest.
    alpha = np.clip(magnitude / top, 0, 1)[..., None] ** 0.6 if top > 0 else np.zeros((28, 28, 1))
    colour = np.where((s > 0)[..., None], FOR_COLOUR, AGAINST_COLOUR)
    picture = (paper * (1 - alpha) + colour * alpha).round().astype(np.uint8)
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)


def legend_html(target: int) -> str:
    """The saliency colours in words, as a one-line legend."""
    swatch = '<span style="display:inline-block;width:12px;height:12px;background:{};margin:0 4px -1px 0;border-radius:2px"></span>'
    red = swatch.format("rgb(214,39,40)")
    blue = swatch.format("rgb(31,119,180)")
    return (
        f'<div style="font-size:14px">{red}pushed the model toward <b>{target}</b>'
        f"&nbsp;&nbsp;&nbsp;{blue}pushed it away from <b>{target}</b>"
        "&nbsp;&nbsp;&nbsp;(grey: your digit; stronger colour, stronger push)</div>"
    )


# --------------------------------------------------------------------------- numbers


def pixel_table_html(x28: np.ndarray) -> str:
    """The digit's pixel values (0 to 255) as a table, each cell shaded like its pixel; only
    the rows and columns around the ink (the others hold only zeros)."""
    values = np.round(np.clip(np.asarray(x28, np.float32).reshape(28, 28), 0, 1) * 255).astype(int)
    rows, cols = np.flatnonzero(values.any(axis=1)), np.flatnonzero(values.any(axis=0))
    if len(rows) == 0:
        r0, r1, c0, c1 = 10, 18, 10, 18
    else:
        r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, 28)
        c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, 28)
    cell = (
        "width:24px;height:17px;padding:0;text-align:center;font-size:9px;"
        "font-family:monospace;border:1px solid #e6e9ef;background:rgb({v},{v},{v});color:{ink}"
    )
    body = []
    for r in range(r0, r1):
        tds = "".join(
            f'<td style="{cell.format(v=v, ink="#000" if v > 140 else "#ddd")}">{v}</td>'
            for v in values[r, c0:c1]
        )
        body.append(f"<tr>{tds}</tr>")
    return (
        '<table style="border-collapse:collapse;table-layout:fixed;margin:0" '
        f'aria-label="pixel values, rows {r0} to {r1 - 1}, columns {c0} to {c1 - 1}">'
        f"{''.join(body)}</table>"
    )


def percent(p: float) -> str:
    """A probability for people: "99%", "3.2%", "0.4%", "under 0.1%"."""
    if p >= 0.995:
        return f"{p:.1%}" if p < 0.9995 else "100%"
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.001:
        return f"{p:.1%}"
    return "under 0.1%"


def activation_curve_svg(name: str | None, width: int = 180, height: int = 110) -> str | None:
    """A small plot of an activation function (ReLU, sigmoid, tanh) over -4..4, or None."""
    functions = {
        "relu": lambda v: np.maximum(v, 0.0),
        "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "tanh": np.tanh,
    }
    if name not in functions:
        return None
    v = np.linspace(-4, 4, 81)
    y = functions[name](v)
    lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 1.0)
    pad = 12

    def px(a, b):
        return (
            pad + (a + 4) / 8 * (width - 2 * pad),
            height - pad - (b - lo) / (hi - lo) * (height - 2 * pad),
        )

    points = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in (px(a, b) for a, b in zip(v, y)))
    x0, y0 = px(0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
        f'<line x1="{pad}" x2="{width - pad}" y1="{y0:.1f}" y2="{y0:.1f}" stroke="#9aa5b1"/>'
        f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{pad / 2}" y2="{height - pad}" stroke="#9aa5b1"/>'
        f'<polyline points="{points}" fill="none" stroke="{ACCENT}" stroke-width="2.5"/>'
        f'<text x="{width - pad}" y="{y0 - 4:.1f}" text-anchor="end" fill="#6b7280">sum</text>'
        f'<text x="{x0 + 4:.1f}" y="{pad + 2}" fill="#6b7280">output</text></svg>'
    )


# --------------------------------------------------------------------------- charts


def score_bars(values: np.ndarray, highlight: int, title: str, percent_axis: bool) -> go.Figure:
    """Ten bars, one per digit (scores or probabilities), the `highlight` digit in red."""
    values = np.asarray(values, np.float64).ravel()
    text = [percent(v) if percent_axis else f"{v:.1f}" for v in values]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(values))),
            y=values,
            marker_color=[ACCENT if d == highlight else MUTED for d in range(len(values))],
            text=text,
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit %{x}: %{y:.3g}<extra></extra>",
        )
    )
    styled(fig, title, height=250)
    fig.update_xaxes(title_text="digit", tickmode="array", tickvals=list(range(len(values))))
    if percent_axis:
        fig.update_yaxes(range=[0, 1.18], tickformat=".0%", tickvals=[0, 0.5, 1])
    else:
        fig.update_yaxes(title_text="score", zeroline=True)
    return fig


def deletion_figure(curves: Mapping[str, np.ndarray], step: int, target: int) -> go.Figure:
    """The deletion test: the probability of `target` as pixels are blacked out in each
    map's order (and brightest first), against the number of pixels blacked out."""
    fig = styled(go.Figure(), None, height=300)
    palette = [ACCENT, TRAIN_COLOUR, "#2a9d4b", "#9467bd"]
    for (name, curve), colour in zip(curves.items(), palette + [MUTED] * len(curves)):
        baseline = name.lower().startswith("brightest")
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(curve)) * step,
                y=curve,
                name=name,
                mode="lines",
                line=dict(
                    color=MUTED if baseline else colour, width=2, dash="dot" if baseline else None
                ),
                hovertemplate=f"{html.escape(name)}: %{{y:.1%}} after %{{x}} pixels<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="pixels blacked out", range=[0, 200])
    fig.update_yaxes(title_text=f"probability of {target}", tickformat=".0%", range=[0, 1.05])
    return fig
