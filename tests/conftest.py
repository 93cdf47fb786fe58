"""Shared fixtures: the local MNIST mirror when there is one, a tiny trained model, the shipped
model, and the awkward files (pictures and models) the hardening tests feed everywhere.

Tests never train a real network: the tiny model below trains for one epoch on 1,000
images (a few seconds) and is shared by every test of the session.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pictures import huge_png

ROOT = Path(__file__).resolve().parent.parent
SHARED_MIRROR = ROOT.parent / "shared" / "data" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Use the local mirror beside the checkout when there is one (saves a download); a clone
# without it fetches MNIST by itself, which tests/test_data.py proves separately.
if "MNIST_DATA_DIR" not in os.environ and SHARED_MIRROR.is_dir():
    os.environ["MNIST_DATA_DIR"] = str(SHARED_MIRROR)


@pytest.fixture(scope="session")
def mnist():
    from mnist_core.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory, mnist):
    """A models directory holding one quickly trained run called "default"."""
    from mnist_core.training import TrainConfig, train

    models = tmp_path_factory.mktemp("models")
    train(
        TrainConfig(
            "seed-mlp-dropout", epochs=1, train_limit=1000, test_limit=500, val_fraction=0.1
        ),
        models_dir=models,
        data=mnist,
        run_id="default",
    )
    return models


@pytest.fixture(scope="session")
def keras_test_probabilities(tiny_models_dir, mnist):
    """The tiny default model's probabilities (float64 (10000, 10), as the model gives them,
    no temperature) for every test image, by Keras alone: a reference apart from
    mnist_core's own inference."""
    import keras

    model = keras.models.load_model(tiny_models_dir / "default" / "model.keras")
    x = mnist.x_test.astype(np.float32)[..., None] / 255.0
    return model.predict(x, batch_size=2048, verbose=0).astype(np.float64)


@pytest.fixture
def models_env(tiny_models_dir, monkeypatch):
    """Point MNIST_MODELS_DIR at the tiny models directory for the duration of a test."""
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tiny_models_dir))
    return tiny_models_dir


@pytest.fixture
def own_models(tiny_models_dir, tmp_path, monkeypatch):
    """`own_models(*names, **meta)`: a models folder of the test's own (runs may be added,
    broken or deleted), MNIST_MODELS_DIR pointing at it, holding the tiny "default" run and a
    copy of it under each of `names`, whose run.json says that name and `meta` besides."""

    def make(*names: str, **meta) -> Path:
        from mnist_core import runs

        models = tmp_path / "models"
        shutil.copytree(tiny_models_dir / "default", models / "default")
        for name in names:
            shutil.copytree(tiny_models_dir / "default", models / name)
            runs.update_meta(runs.read_run(models / name), run_id=name, **meta)
        monkeypatch.setenv("MNIST_MODELS_DIR", str(models))
        return models

    return make


@pytest.fixture(scope="session")
def shipped_models_dir(tmp_path_factory):
    """A models directory holding a copy of the shipped default model (99.6% on the test set),
    for tests that check a prediction is right, not only that one is made."""
    models = tmp_path_factory.mktemp("shipped")
    shutil.copytree(ROOT / "models" / "default", models / "default")
    return models


@pytest.fixture
def shipped_models_env(shipped_models_dir, monkeypatch):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(shipped_models_dir))
    return shipped_models_dir


# --------------------------------------------------------------------------- awkward files


def _scan(digit, scale: int = 4, margin: int = 40):
    """An MNIST digit as a scan would show it: dark ink on white paper, enlarged (PIL "L")."""
    from PIL import Image

    side = 28 * scale
    page = Image.new("L", (side + 2 * margin,) * 2, 255)
    page.paste(Image.fromarray(255 - digit).resize((side, side), Image.BILINEAR), (margin, margin))
    return page


def _encoded(image, format: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def odd_uploads(mnist) -> list[tuple[str, bytes, int | str | None]]:
    """Every awkward file the app and the CLI must survive, as (name, content, expected).

    `expected` is "error" (refused with one line), None (read, but no digit in it) or the
    digit the shipped model must read. The digits are MNIST test images that model reads
    right as scans; the EXIF one (test image 4, a "4") reads as a 5 when left sideways.
    """
    import numpy as np
    from PIL import Image

    x, y = mnist.x_test, mnist.y_test
    scan = _encoded(_scan(x[0]))
    rgba = np.zeros((192, 192, 4), np.uint8)  # black ink on a transparent sheet
    rgba[40:152, 40:152, 3] = np.asarray(Image.fromarray(x[2]).resize((112, 112), Image.BILINEAR))
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": stored turned the other way
    return [
        ("empty.png", b"", "error"),
        ("truncated.png", scan[: len(scan) // 2], "error"),
        ("page.png", b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>", "error"),
        (
            "digit.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
            b'<path d="M14 4v20" stroke="black" stroke-width="3"/></svg>',
            "error",
        ),
        (
            "animated.gif",
            _encoded(
                _scan(x[1]).convert("P"),
                "GIF",
                save_all=True,
                duration=100,
                append_images=[_scan(x[3]).convert("P")],
            ),
            int(y[1]),
        ),
        (
            "deep-16-bit.png",
            _encoded(Image.fromarray(np.asarray(_scan(x[0]), np.uint16) * 257)),
            int(y[0]),
        ),
        ("cmyk.jpg", _encoded(_scan(x[3]).convert("CMYK"), "JPEG", quality=95), int(y[3])),
        ("transparent.png", _encoded(Image.fromarray(rgba)), int(y[2])),
        ("one-pixel.png", _encoded(Image.new("L", (1, 1), 255)), None),
        ("bomb.png", huge_png(20000, 20000), "error"),
        (
            "rotated-exif.jpg",
            _encoded(
                _scan(x[4]).transpose(Image.Transpose.ROTATE_90),
                "JPEG",
                quality=95,
                exif=exif.tobytes(),
            ),
            int(y[4]),
        ),
    ]


# --------------------------------------------------------------------------- awkward models


@pytest.fixture(scope="session")
def odd_models(tiny_models_dir, tmp_path_factory) -> dict[str, Path]:
    """Model files that must be refused with one line, by kind."""
    import keras
    from keras import layers

    root = tmp_path_factory.mktemp("odd-models")
    good = (tiny_models_dir / "default" / "model.keras").read_bytes()
    (root / "corrupt.keras").write_bytes(good[: len(good) // 2])  # a copy cut short
    with zipfile.ZipFile(root / "not-keras.keras", "w") as archive:  # a zip, but not a model
        archive.writestr("readme.txt", "hello")
    keras.Sequential(
        [keras.Input((32, 32, 3)), layers.Flatten(), layers.Dense(10, activation="softmax")]
    ).save(root / "wrong-input.keras")
    keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(5, activation="softmax")]
    ).save(root / "wrong-output.keras")
    keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Lambda(lambda t: t * 2.0),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    ).save(root / "lambda.keras")
    return {path.stem: path for path in root.iterdir()}


@pytest.fixture
def odd_model_runs(models_env, odd_models, tmp_path, monkeypatch) -> list[str]:
    """A models folder (MNIST_MODELS_DIR) with the good "default" run and one run per odd model
    file, named after its kind; returns those kinds."""
    models = tmp_path / "models"
    shutil.copytree(models_env / "default", models / "default")
    for kind, path in odd_models.items():
        shutil.copytree(models_env / "default", models / kind)
        shutil.copy(path, models / kind / "model.keras")
    monkeypatch.setenv("MNIST_MODELS_DIR", str(models))
    return list(odd_models)


_DAMAGED_RUNS = {  # name -> what the app says of it, in part
    "started-123": "started_at must be text, got 123",
    "params-x": "params must be an object, got 'x'",
    "linked": "the run folder is a link to another folder; refused",
    "passwd": "model.keras is a link to another file; refused",
}


@pytest.fixture
def damaged_runs(own_models, tmp_path) -> Path:
    """A models folder (MNIST_MODELS_DIR) with the tiny default and, copied from it, a run
    whose run.json has a number for a date ("started-123"), one whose params are a string
    ("params-x"), a run folder that is a link to a folder outside models/ ("linked") and a
    run whose model.keras is a link to /etc/passwd ("passwd"): see `damaged_reasons`."""
    models = own_models("started-123", "params-x", "passwd")
    for name, change in (("started-123", {"started_at": 123}), ("params-x", {"params": "x"})):
        run_json = models / name / "run.json"
        run_json.write_text(json.dumps({**json.loads(run_json.read_text()), **change}))
    (models / "passwd" / "model.keras").unlink()
    (models / "passwd" / "model.keras").symlink_to("/etc/passwd")
    outside = tmp_path / "outside-models" / "linked"
    shutil.copytree(models / "default", outside)
    (models / "linked").symlink_to(outside, target_is_directory=True)
    return models


@pytest.fixture
def damaged_reasons() -> dict[str, str]:
    """{name of a damaged run: what the app says of it, in part} (see `damaged_runs`)."""
    return dict(_DAMAGED_RUNS)
