"""Synthetic phone photos of handwritten digits on paper, and how well the predict path reads them.

    .venv/bin/python benchmarks/photo_corpus.py --set tuning             # measure, print
    .venv/bin/python benchmarks/photo_corpus.py --set reported --save    # + results/photos.json
    .venv/bin/python benchmarks/photo_corpus.py --set tuning --write /tmp/photos  # the JPEGs

Each picture is one MNIST test digit written on paper and photographed: 640x480, white or
cream paper with grain, plain, ruled (blue or grey lines, sometimes a red margin) or squared,
the page a few degrees off level; the digit as dark grey, black or blue ink (strokes
sometimes a little out of focus), 10% to 40% of the picture's height, anywhere, tilted up to
10 degrees; a lighting gradient of 20 to 60 grey levels, a soft shadow, sometimes a
vignette; sensor noise; JPEG at a quality of 50 to 90. One picture in ten is the other way
round: light chalk on a dark board. A seed and a range of test digits select a set:

    tuning    seed 1, 300 pictures from test digits 5000-5999: the set the pipeline was tuned on
    reported  seed 2, 400 pictures from test digits 0-999: measured once, never tuned on

The measurement feeds each picture's JPEG bytes to `mnist_core.inference.predict_image`
with the shipped model (models/default/model.keras), the path the Upload tab and
`python -m mnist_core predict` take; `--code REVISION` does the same with
`mnist_core/preprocess.py` as committed there (`git show REVISION:...`), for the figures
from before a change; `--blank` measures the same photos with nothing written on them.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class Style:
    """The ranges a set's pictures are drawn from (uniformly)."""

    sizes: tuple = ((640, 480),)  # (width, height) of the picture, one chosen per picture
    height: tuple = (0.10, 0.40)  # the digit's height (MNIST's 20 px box), of the picture's
    digit_tilt: float = 10.0  # degrees, either way
    page_tilt: float = 5.0  # degrees, either way: the ruling off level
    gradient: tuple = (20, 60)  # grey levels of light fall-off across the picture (on white)
    shadow: tuple = (0.1, 0.3)  # how much of the light the shadow takes away
    grey_ink: tuple = (55, 95)  # the grey of dark-grey ink (black ink is 10 to 45)
    line_grey: tuple = (140, 200)  # grey ruling (blue ruling is lighter, about 160 to 210)
    line_strength: tuple = (0.4, 0.85)  # how much of the paper a line covers at its centre
    quality: tuple = (50, 90)  # JPEG quality
    exposure: tuple = (1.0, 1.0)  # the whole picture's brightness, times


SPEC = Style()
# Beyond the brief's ranges, to see where the pipeline breaks: digits 6% to 90% of the
# height, more tilt, darker shadows and rules, fainter ink, JPEG down to 25, phone-sized
# pictures (up to 12 MP) and portrait ones, dim pictures (white paper as mid-grey).
STRESS = Style(
    sizes=((640, 480),) * 5 + ((480, 640), (1600, 1200), (1200, 1600), (4032, 3024)),
    height=(0.06, 0.90),
    digit_tilt=15.0,
    page_tilt=8.0,
    gradient=(20, 90),
    shadow=(0.1, 0.5),
    grey_ink=(55, 130),
    line_grey=(100, 200),
    line_strength=(0.4, 1.0),
    quality=(25, 90),
    exposure=(0.4, 1.05),
)
SETS = {  # name: (seed, pictures, first test digit, last test digit + 1, style)
    "tuning": (1, 300, 5000, 6000, SPEC),
    "reported": (2, 400, 0, 1000, SPEC),
    "stress": (3, 200, 6000, 7000, STRESS),
}
INVERTED_EVERY = 10  # one picture in ten: light chalk on a dark board


@dataclass
class Photo:
    jpeg: bytes  # what a user uploads
    label: int  # the MNIST test label
    index: int  # which test digit
    box: tuple[int, int, int, int]  # the ink's box in the picture, (x0, y0, x1, y1), x1/y1 excluded
    kind: str  # "plain", "ruled", "squared" or "board"


# --------------------------------------------------------------------------- rendering


def render(
    digit: np.ndarray,
    rng: np.random.Generator,
    style: Style = SPEC,
    board: bool = False,
    blank: bool = False,
) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
    """One photo of `digit` (uint8 (28, 28), MNIST's white on black) -> (RGB uint8 (H, W, 3)
    before JPEG, the ink's box (x0, y0, x1, y1), the kind of paper). `blank`: the same
    photo without the digit (the same random draws, so the rest is as it would be)."""
    width, height = style.sizes[rng.integers(len(style.sizes))]
    zoom = min(width, height) / 480  # grain, lines and blur scale with the picture
    if board:
        page, kind = _board(rng, width, height, zoom), "board"
        ink = rng.uniform(200, 240) * np.ones(3) + rng.uniform(-10, 10, 3)  # chalk
    else:
        page, kind = _paper(rng, width, height, zoom, style)
        ink = _ink_colour(rng, style)
    alpha, box = _digit_alpha(digit, rng, width, height, zoom, style)
    if blank:
        alpha[:] = 0
    if board:  # chalk is grainy: some of the stroke lets the board through
        grain = np.abs(rng.normal(0, 0.25, alpha.shape)).astype(np.float32)
        if zoom > 1:
            grain = cv2.GaussianBlur(grain, (0, 0), zoom / 2)
        alpha *= np.clip(1.0 - grain, 0, 1)
    opacity = rng.uniform(0.85, 1.0)
    a = (alpha * opacity)[..., None]
    picture = page * (1 - a) + ink.astype(np.float32) * a
    picture *= _lighting(rng, width, height, style)[..., None]
    if style.exposure != (1.0, 1.0):  # a dim room: paper comes out mid-grey
        picture *= rng.uniform(*style.exposure)
    if rng.random() < 0.5:
        picture = cv2.GaussianBlur(picture, (0, 0), rng.uniform(0.3, 1.0) * zoom)  # focus, shake
    picture += rng.normal(0, rng.uniform(1.5, 4.0), picture.shape).astype(np.float32)
    return np.clip(picture, 0, 255).astype(np.uint8), box, kind


def _paper(rng, width: int, height: int, zoom: float, style: Style) -> tuple[np.ndarray, str]:
    """White or cream paper with grain, and its ruling, float32 (H, W, 3) 0..255."""
    if rng.random() < 0.5:
        colour = rng.uniform(236, 252) + rng.uniform(-3, 3, 3)  # white, a hint of tint
    else:  # cream
        colour = np.array([rng.uniform(238, 250), rng.uniform(228, 242), rng.uniform(200, 222)])
    page = np.empty((height, width, 3), np.float32)
    page[:] = colour
    # Grain: fibres a few pixels across, and a finer speckle.
    fibres = cv2.GaussianBlur(
        rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 2.0 * zoom
    )
    page += (fibres / fibres.std() * rng.uniform(1.0, 3.0))[..., None]
    page += rng.normal(0, rng.uniform(0.5, 2.0), (height, width, 1)).astype(np.float32)
    kind = str(rng.choice(["plain", "ruled", "squared"]))
    if kind == "plain":
        return page, kind
    blue = rng.random() < 0.6
    line = (
        np.array([rng.uniform(120, 190), rng.uniform(160, 210), rng.uniform(220, 245)])
        if blue
        else np.full(3, rng.uniform(*style.line_grey))
    )
    angle = math.radians(rng.uniform(-style.page_tilt, style.page_tilt))
    spacing = (rng.uniform(22, 40) if kind == "ruled" else rng.uniform(14, 30)) * zoom
    thickness = rng.choice([1, 1, 2]) * zoom
    strength = rng.uniform(*style.line_strength)
    mask = np.zeros((height, width), np.float32)
    _lines(mask, angle, spacing, rng.uniform(0, spacing), thickness)
    if kind == "squared":
        _lines(mask, angle + math.pi / 2, spacing, rng.uniform(0, spacing), thickness)
    elif rng.random() < 0.3:  # a red margin
        margin = np.zeros_like(mask)
        x = rng.uniform(40, 120) * zoom  # from the left edge
        _lines(margin, angle + math.pi / 2, 100_000, width / 2 - x, thickness)
        m = (margin * strength)[..., None]
        page = page * (1 - m) + np.array([230, 120, 130], np.float32) * m
    m = (mask * strength)[..., None]
    return page * (1 - m) + line.astype(np.float32) * m, kind


def _lines(mask: np.ndarray, angle: float, spacing: float, offset: float, width: float) -> None:
    """Parallel antialiased lines at `angle` (0 = horizontal), drawn into `mask` (max 1)."""
    h, w = mask.shape
    diag = math.hypot(h, w)
    cx, cy = w / 2, h / 2
    dx, dy = math.cos(angle), math.sin(angle)  # along the line
    nx, ny = -dy, dx  # across
    k = -math.floor(diag / 2 / spacing) - 1
    up = 4 if w * h <= 2_000_000 else 2  # drawn larger, for antialiased sub-pixel lines
    layer = np.zeros((h * up, w * up), np.uint8)
    while k * spacing <= diag / 2 + spacing:
        d = k * spacing + offset
        px, py = cx + nx * d, cy + ny * d
        p0 = (round((px - dx * diag) * up), round((py - dy * diag) * up))
        p1 = (round((px + dx * diag) * up), round((py + dy * diag) * up))
        cv2.line(layer, p0, p1, 255, thickness=max(1, round(width * up)), lineType=cv2.LINE_AA)
        k += 1
    small = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    np.maximum(mask, small, out=mask)


def _board(rng, width: int, height: int, zoom: float) -> np.ndarray:
    """A dark board (green, grey or black) with smudges, float32 (H, W, 3) 0..255."""
    base = np.array(
        [[35.0, 60.0, 45.0], [45.0, 45.0, 48.0], [22.0, 24.0, 26.0]][rng.integers(3)]
    ) + rng.uniform(-8, 8)
    page = np.empty((height, width, 3), np.float32)
    page[:] = base
    smudge = cv2.GaussianBlur(
        rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 12 * zoom
    )
    page += (smudge / smudge.std() * rng.uniform(2, 6))[..., None]
    page += rng.normal(0, 2.0, (height, width, 1)).astype(np.float32)
    return page


def _ink_colour(rng, style: Style) -> np.ndarray:
    kind = rng.choice(["black", "grey", "blue"])
    if kind == "black":
        return np.full(3, rng.uniform(10, 45))
    if kind == "grey":
        return np.full(3, rng.uniform(*style.grey_ink))
    return np.array([rng.uniform(15, 60), rng.uniform(30, 80), rng.uniform(110, 180)])


def _digit_alpha(digit, rng, width: int, height: int, zoom: float, style: Style) -> tuple:
    """The digit as ink coverage float32 (H, W) in [0, 1] placed on the picture, and its box.

    MNIST's 20 px box becomes `style.height` of the picture's height; the strokes are made
    solid with soft edges (a pen, not a grey blur), sometimes softened, then tilted."""
    scale = rng.uniform(*style.height) * height / 20.0
    side = round(28 * scale)
    big = cv2.resize(digit.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC)
    low = rng.uniform(0.15, 0.4)
    alpha = np.clip((big - low) / 0.3, 0, 1)
    if rng.random() < 0.4:
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5) * zoom)
    tilt = rng.uniform(-style.digit_tilt, style.digit_tilt)
    alpha = np.pad(alpha, side // 2)
    centre = (alpha.shape[1] / 2, alpha.shape[0] / 2)
    rotation = cv2.getRotationMatrix2D(centre, tilt, 1.0)
    alpha = cv2.warpAffine(alpha, rotation, alpha.shape[::-1], flags=cv2.INTER_LINEAR)
    rows = np.flatnonzero((alpha > 0.5).any(axis=1))
    cols = np.flatnonzero((alpha > 0.5).any(axis=0))
    alpha = alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # the ink and nothing else
    h, w = alpha.shape
    if h > height - 8 or w > width - 8:  # a 90% digit tilted may not fit: shrink it to fit
        factor = min((height - 8) / h, (width - 8) / w)
        alpha = cv2.resize(alpha, (int(w * factor), int(h * factor)), interpolation=cv2.INTER_AREA)
        h, w = alpha.shape
    y = int(rng.integers(4, height - h - 4 + 1))
    x = int(rng.integers(4, width - w - 4 + 1))
    placed = np.zeros((height, width), np.float32)
    placed[y : y + h, x : x + w] = alpha
    return placed, (x, y, x + w, y + h)


def _lighting(rng, width: int, height: int, style: Style) -> np.ndarray:
    """Illumination float32 (H, W), about 1: a gradient (`style.gradient` grey levels on
    white) in any direction, a soft shadow from one side, sometimes a vignette."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    u = (xs - width / 2) * math.cos(direction) + (ys - height / 2) * math.sin(direction)
    u = (u - u.min()) / (u.max() - u.min())
    light = 1.0 - rng.uniform(*style.gradient) / 250 * u
    # A shadow (a hand, the phone) over one side: a half-plane with a blurred edge.
    angle = rng.uniform(0, 2 * math.pi)
    v = (xs - width / 2) * math.cos(angle) + (ys - height / 2) * math.sin(angle)
    edge = rng.uniform(0.1, 0.45) * math.hypot(width, height)
    softness = rng.uniform(15, 60) * min(width, height) / 480
    shadow = 1.0 / (1.0 + np.exp(-(v - edge) / softness))
    light *= 1.0 - rng.uniform(*style.shadow) * shadow
    if rng.random() < 0.5:
        r2 = ((xs - width / 2) / (width / 2)) ** 2 + ((ys - height / 2) / (height / 2)) ** 2
        light *= 1.0 - rng.uniform(0.1, 0.3) * r2 / 2
    return light.astype(np.float32)


def jpeg(picture: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def corpus(name: str, images: np.ndarray, labels: np.ndarray, blank: bool = False):
    """The pictures of set `name` (see SETS), made the same way on every call: yields Photo.
    `blank`: the same pictures with nothing written on them."""
    seed, count, first, last, style = SETS[name]
    rng = np.random.default_rng(seed)
    indices = rng.choice(np.arange(first, last), size=count, replace=False)
    for i, index in enumerate(indices):
        board = i % INVERTED_EVERY == 0
        picture, box, kind = render(images[index], rng, style, board=board, blank=blank)
        quality = rng.integers(style.quality[0], style.quality[1] + 1)
        yield Photo(jpeg(picture, quality), int(labels[index]), int(index), box, kind)


# --------------------------------------------------------------------------- measuring


def committed_to_mnist(revision: str = "HEAD"):
    """`to_mnist` of mnist_core/preprocess.py as committed in `revision` (from before a
    change), imported under another name beside the working tree's mnist_core."""
    source = subprocess.run(
        ["git", "show", f"{revision}:mnist_core/preprocess.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="preprocess-head-"))
    path = folder / "preprocess_head.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("mnist_core._preprocess_head", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "mnist_core"
    spec.loader.exec_module(module)
    return module.to_mnist


def measure(name: str, code: str = "work", limit: int | None = None, blank: bool = False) -> dict:
    """Read every picture of set `name` with the shipped model: the figures as a dict.

    `code`: "work" (the working tree's preprocess.py) or a git revision to take it from.
    `blank`: the set's pictures with nothing written on them; "found_nothing" should be all."""
    from mnist_core.data import load_mnist
    from mnist_core.inference import Predictor
    from mnist_core.preprocess import find_digit, to_mnist
    from mnist_core.runs import resolve_model_path

    data = load_mnist(log=lambda message: None)
    model_path = resolve_model_path(None)
    predictor = Predictor.from_path(model_path)
    if code != "work":
        to_mnist = committed_to_mnist(code)

    def read(image) -> int | None:
        """`inference.predict_image` as committed (to_mnist, then the model's most probable
        class), written out so that the preprocessing can be swapped for HEAD's."""
        x28 = to_mnist(image)
        return None if x28 is None else int(np.argmax(predictor.predict_one(x28)))

    by_kind: dict[str, list[int]] = {}  # kind: [right, nothing found, total]
    seconds = []
    misses = []
    overlaps = []  # the found box against the drawn one (intersection over union)
    for n, photo in enumerate(corpus(name, data.x_test, data.y_test, blank)):
        if limit is not None and n >= limit:
            break
        start = time.perf_counter()
        digit = read(photo.jpeg)
        seconds.append(time.perf_counter() - start)
        counts = by_kind.setdefault(photo.kind, [0, 0, 0])
        counts[0] += digit == photo.label
        counts[1] += digit is None
        counts[2] += 1
        if digit != photo.label and not (blank and digit is None):
            misses.append((n, photo.index, photo.label, digit, photo.kind))
        if code == "work" and not blank:
            found = find_digit(photo.jpeg)
            overlaps.append(0.0 if found is None else overlap(found.box, photo.box))
    right, nothing, total = (sum(c[i] for c in by_kind.values()) for i in range(3))
    return {
        "set": name + (" (blank)" if blank else ""),
        "code": code,
        "pictures": total,
        "read_right": right,
        "accuracy": right / total,
        "found_nothing": nothing,
        "by_kind": {
            k: dict(zip(("right", "found_nothing", "total"), v)) for k, v in by_kind.items()
        },
        "ms_per_picture_p50": 1000 * float(np.median(seconds)),
        "box_overlap_median": float(np.median(overlaps)) if overlaps else None,
        "boxes_overlapping_under_half": sum(o < 0.5 for o in overlaps) if overlaps else None,
        "misses": misses,
        "model": str(model_path.relative_to(ROOT))
        if model_path.is_relative_to(ROOT)
        else str(model_path),
    }


def canvas_latency(revision: str, rounds: int = 30, calls: int = 50) -> dict:
    """`to_mnist` on the latency benchmark's canvas (benchmarks/run.py, synthetic_drawing),
    the working tree's against `revision`'s, taking turns every round: ms p50 of each."""
    from run import synthetic_drawing  # benchmarks/run.py

    from mnist_core.data import load_mnist
    from mnist_core.preprocess import to_mnist

    drawing = synthetic_drawing(load_mnist(log=lambda message: None).x_test[0])
    variants = {"work": to_mnist, revision: committed_to_mnist(revision)}
    times = {name: [] for name in variants}
    for call in variants.values():
        for _ in range(20):
            call(drawing)  # warm-up
    for _ in range(rounds):
        for name, call in variants.items():
            for _ in range(calls):
                start = time.perf_counter()
                call(drawing)
                times[name].append((time.perf_counter() - start) * 1000)
    return {f"{name}_ms_p50": float(np.median(values)) for name, values in times.items()}


def overlap(a: tuple, b: tuple) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def machine() -> dict:
    from mnist_core.training import _cpu_model  # what run.json records as the processor

    cpu = _cpu_model()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def save(result: dict, how: str) -> None:
    """Add `result` to benchmarks/results/photos.json, with the date, machine and command."""
    path = ROOT / "benchmarks" / "results" / "photos.json"
    saved = json.loads(path.read_text()) if path.is_file() else {"about": __doc__, "runs": []}
    misses = result.get("misses", [])
    if len(misses) > 20:
        misses = f"{len(misses)} pictures, not listed"
    else:
        misses = [
            f"picture {n}: test digit {index}, a {label}, "
            + ("nothing found" if read is None else f"read as {read}")
            + f" ({kind})"
            for n, index, label, read, kind in misses
        ]
    saved["runs"].append(
        {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "how": how,
            **result,
            **({"misses": misses} if "misses" in result else {}),
        }
    )
    path.write_text(json.dumps(saved, indent=2) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="tuning")
    parser.add_argument(
        "--code",
        default="work",
        help="preprocess.py of the working tree (work) or of a git revision (e.g. HEAD~1)",
    )
    parser.add_argument(
        "--blank", action="store_true", help="the pictures without their digit (none to find)"
    )
    parser.add_argument(
        "--canvas-latency",
        metavar="REVISION",
        help="time the Draw canvas's preprocessing against REVISION's, side by side",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N pictures")
    parser.add_argument("--write", type=Path, default=None, help="write the JPEGs to this folder")
    parser.add_argument(
        "--save", action="store_true", help="add the figures to results/photos.json"
    )
    args = parser.parse_args(argv)
    how = " ".join(["benchmarks/photo_corpus.py", *(argv or sys.argv[1:])])
    if args.canvas_latency:
        latency = canvas_latency(args.canvas_latency)
        print(json.dumps(latency))
        if args.save:
            save({"set": "canvas latency", **latency}, how)
        return 0
    if args.write:
        from mnist_core.data import load_mnist

        data = load_mnist(log=lambda message: None)
        args.write.mkdir(parents=True, exist_ok=True)
        for n, photo in enumerate(corpus(args.set, data.x_test, data.y_test)):
            if args.limit is not None and n >= args.limit:
                break
            name = f"{n:03d}-digit{photo.label}-test{photo.index}-{photo.kind}.jpg"
            (args.write / name).write_bytes(photo.jpeg)
        return 0
    result = measure(args.set, args.code, args.limit, args.blank)
    summary = {k: v for k, v in result.items() if k != "misses"}
    print(json.dumps(summary, indent=2))
    print("misses (n, test index, label, read as, kind):", result["misses"])
    if args.save:
        save(result, how)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
