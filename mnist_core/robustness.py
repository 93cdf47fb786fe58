"""How a model's accuracy holds up when the test digits are corrupted (`corruptions`).

    measure(predictor, images, labels, progress=None) -> Robustness
    for_model(model_path, predictor=None, progress=None) -> Robustness, cached beside the model

Two figures per corruption:
  app    the picture as the app reads any picture (Draw, Upload, `predict`, the API):
         `preprocess.to_mnist` (ink found, un-inverted, cleaned, scaled to MNIST's 20-px box
         and centred), then the model. The headline: what a user gets.
  model  the corrupted 28 x 28 image given to the network as it is: the network alone, as
         MNIST-C measures it. The gap between the two is what the preprocessing buys.
Each comes with the indices of the first KEPT images read wrong (for the page's gallery)
and the mean over the corruptions. The probabilities are not calibrated: answers only.

A model file's figures are computed once (about a minute for the 10,000 test images on two
cores) and kept in `robustness.json` beside it, with the file's SHA-256 and the corruption
set's VERSION; another file or set computes them again. Where the folder
cannot be written (a read-only install) the figures are simply not kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic, preprocess
from .corruptions import CORRUPTIONS, corrupt
from .data import normalise

VERSION = 2  # of the corruption set and the way it is measured: bump when either changes
CACHE_NAME = "robustness.json"
BATCH = 1000  # images corrupted and read at a time: progress steps, bounded memory
KEPT = 200  # indices of wrong readings kept per corruption and path: ten gallery pages

TRAINING_FIRST = 1_000_000  # corruption indices of training copies: draws the test set never gets

Progress = Callable[[float, str], None]  # (fraction done, what is being done)


@dataclass
class Score:
    accuracy: float
    wrong: list[int] = field(default_factory=list)  # test indices read wrong: the first KEPT


@dataclass
class Robustness:
    images: int  # how many test images (the first N)
    clean: dict[str, Score]  # "app" / "model" -> on the test images as they are
    corrupted: dict[str, dict[str, Score]]  # corruption name -> "app" / "model" -> Score

    def mean(self, path: str = "app") -> float:
        """The mean accuracy over the corruptions, by `path` ("app" or "model")."""
        return float(np.mean([scores[path].accuracy for scores in self.corrupted.values()]))

    def worst(self, path: str = "app") -> tuple[str, float]:
        name = min(self.corrupted, key=lambda n: self.corrupted[n][path].accuracy)
        return name, self.corrupted[name][path].accuracy

    def to_json(self) -> dict:
        def score(s: Score) -> dict:
            return {"accuracy": round(s.accuracy, 6), "wrong": s.wrong}

        return {
            "images": self.images,
            "mean": {p: round(self.mean(p), 6) for p in ("app", "model")},
            "clean": {p: score(s) for p, s in self.clean.items()},
            "corrupted": {
                name: {p: score(s) for p, s in scores.items()}
                for name, scores in self.corrupted.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> Robustness:
        def score(d: dict) -> Score:
            return Score(float(d["accuracy"]), [int(i) for i in d["wrong"]])

        return cls(
            int(data["images"]),
            {p: score(s) for p, s in data["clean"].items()},
            {n: {p: score(s) for p, s in v.items()} for n, v in data["corrupted"].items()},
        )


def app_inputs(images: np.ndarray) -> np.ndarray:
    """Each uint8 28 x 28 picture as the app makes it the model's input (`to_mnist`); a
    picture in which no ink is found becomes a black input (and is read however it is)."""
    out = np.zeros((len(images), 28, 28), np.float32)
    for k, image in enumerate(images):
        x = preprocess.to_mnist(image)
        if x is not None:
            out[k] = x
    return out


def corrupted_copies(
    images: np.ndarray, labels: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`images` (uint8 (N, 28, 28)) and `labels` with copies of a `share` of them added, each
    changed by one corruption chosen at random, half of them then made into the model's
    input as the app makes one (`app_inputs`): training data for a model that should read
    what the robustness view measures. Other draws than the test set's (TRAINING_FIRST)."""
    rng = np.random.default_rng(seed)
    take = rng.choice(len(images), round(len(images) * share), replace=False)
    family = rng.integers(0, len(CORRUPTIONS), len(take))
    as_app = rng.random(len(take)) < 0.5
    copies = np.empty((len(take), 28, 28), np.uint8)
    for k, name in enumerate(CORRUPTIONS):
        mine = np.flatnonzero(family == k)
        pictures = corrupt(name, images[take[mine]], first=TRAINING_FIRST)
        app = as_app[mine]
        pictures[app] = np.round(app_inputs(pictures[app]) * 255).astype(np.uint8)
        copies[mine] = pictures
    return np.concatenate([images, copies]), np.concatenate([labels, labels[take]])


def _score(predictor, x: np.ndarray, labels: np.ndarray, first: int) -> tuple[np.ndarray, list]:
    right = predictor.predict_batch(x).argmax(axis=1) == labels
    return right, [first + int(i) for i in np.flatnonzero(~right)]


def measure(
    predictor, images: np.ndarray, labels: np.ndarray, progress: Progress | None = None
) -> Robustness:
    """`predictor` (anything with `predict_batch`) on `images` (uint8 (N, 28, 28), the test
    set's first N) and every corruption of them, both ways (see the module docstring)."""
    names = ["clean", *CORRUPTIONS]
    right = {(n, p): [] for n in names for p in ("app", "model")}
    wrong = {(n, p): [] for n in names for p in ("app", "model")}
    steps = len(names) * max(1, -(-len(images) // BATCH))
    done = 0
    for name in names:
        for first in range(0, len(images), BATCH):
            if progress is not None:
                title = (
                    "the test images as they are" if name == "clean" else CORRUPTIONS[name].title
                )
                progress(done / steps, f"{title}: images {first + 1} to {first + BATCH}")
            batch = images[first : first + BATCH]
            if name != "clean":
                batch = corrupt(name, batch, first)
            y = labels[first : first + BATCH]
            for path, x in (("model", normalise(batch)), ("app", app_inputs(batch))):
                ok, bad = _score(predictor, x, y, first)
                right[name, path].append(ok)
                wrong[name, path].extend(bad)
            done += 1
    if progress is not None:
        progress(1.0, "done")

    def score(name: str, path: str) -> Score:
        return Score(float(np.concatenate(right[name, path]).mean()), wrong[name, path][:KEPT])

    return Robustness(
        len(images),
        {p: score("clean", p) for p in ("app", "model")},
        {n: {p: score(n, p) for p in ("app", "model")} for n in CORRUPTIONS},
    )


def _key(model_path: Path, images: int) -> dict:
    # The file's content, not its time: a fresh clone's shipped model keeps its figures.
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    return {"version": VERSION, "model_sha256": digest, "images": images}


def cached(model_path: Path, images: int) -> Robustness | None:
    """The figures kept beside `model_path` for this file and set, or None."""
    path = model_path.parent / CACHE_NAME
    try:
        data = json.loads(path.read_text())
        if data.get("key") == _key(model_path, images):
            return Robustness.from_json(data["figures"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, damaged or from another model file: computed again
    return None


def for_model(
    model_path: Path,
    predictor=None,
    progress: Progress | None = None,
    images: int | None = None,
    keep: bool = True,
) -> Robustness:
    """The figures of the model file `model_path` on the first `images` test images (all
    10,000 by default): from `robustness.json` beside it when that is for this very file,
    else measured and (with `keep`) written there atomically."""
    from .data import load_mnist
    from .inference import Predictor

    data = load_mnist()
    n = len(data.x_test) if images is None else images
    found = cached(model_path, n)
    if found is not None:
        return found
    predictor = predictor or Predictor.from_path(model_path)
    result = measure(predictor, data.x_test[:n], data.y_test[:n], progress)
    if keep:
        try:
            atomic.write_json(
                model_path.parent / CACHE_NAME,
                {"key": _key(model_path, n), "figures": result.to_json()},
            )
        except OSError:
            pass  # a read-only folder: the figures are shown, not kept
    return result
