"""mnist_core.runs: run ids, reading and listing, derived status, history, stop and delete."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_core import runs
from mnist_core.errors import InputError, ModelError


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 101, "run id", "..", "a\\b"])
def test_invalid_run_ids_are_refused(bad):
    with pytest.raises(InputError, match="Invalid run id"):
        runs.validate_run_id(bad)


def test_new_run_id_is_valid_and_unique():
    ids = {runs.new_run_id("fast-cnn") for _ in range(50)}
    assert len(ids) > 45 and all(runs.validate_run_id(i) for i in ids)


def test_create_read_and_list(tmp_path):
    params = runs.RunParams(epochs=1, batch_size=8, learning_rate=0.1, seed=1, val_fraction=0.0)
    first = runs.create_run("fast-cnn", params, models_dir=tmp_path, run_id="a-run")
    assert first.status == "queued" and runs.read_run(first.path).meta.params == params
    runs.update_meta(
        first, status="completed", test_accuracy=0.99, started_at="2026-01-01T00:00:00"
    )
    runs.create_run("best-cnn", models_dir=tmp_path, run_id="default")
    second = runs.create_run("keras-convnet", models_dir=tmp_path, run_id="b-run")
    runs.update_meta(second, status="completed", started_at="2026-02-01T00:00:00")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    (tmp_path / ".logs").mkdir()

    listed = runs.list_runs(tmp_path)
    assert [r.id for r in listed][:3] == ["default", "b-run", "a-run"]
    broken = next(r for r in listed if r.id == "broken")
    assert broken.status == "invalid" and "invalid" in broken.error
    assert runs.get_run("a-run", tmp_path).test_accuracy == 0.99
    with pytest.raises(ModelError, match="No run called 'zzz'"):
        runs.get_run("zzz", tmp_path)
    with pytest.raises(InputError):
        runs.create_run("fast-cnn", models_dir=tmp_path, run_id="a-run")


def test_running_run_with_a_dead_process_reads_as_interrupted(tmp_path):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r", status="running")
    assert runs.read_run(run.path).status == "running"  # our own pid is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.update_meta(run, pid=dead.pid)
    assert runs.read_run(run.path).status == "interrupted"
    assert (
        json.loads((run.path / "run.json").read_text())["status"] == "running"
    )  # derived, not written


def test_history_round_trip_with_missing_validation(tmp_path):
    rows = [
        {
            "epoch": 1,
            "loss": 0.5,
            "accuracy": 0.9,
            "val_loss": math.nan,
            "val_accuracy": None,
            "learning_rate": 0.01,
            "elapsed_s": 3.5,
            "epoch_s": 3.5,
        }
    ]
    runs.write_history(tmp_path, rows)
    back = runs.read_history(tmp_path)
    assert back[0]["epoch"] == 1 and back[0]["loss"] == 0.5
    assert math.isnan(back[0]["val_loss"]) and math.isnan(back[0]["val_accuracy"])
    assert runs.read_history(tmp_path / "nothing") == []


def test_resolve_model_path(tmp_path):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="default")
    with pytest.raises(ModelError, match="has no model.keras"):
        runs.resolve_model_path(None, tmp_path)
    run.model_path.write_bytes(b"x")
    assert runs.resolve_model_path(None, tmp_path) == run.model_path
    assert runs.resolve_model_path("default", tmp_path) == run.model_path
    assert runs.resolve_model_path(str(run.path), tmp_path) == run.model_path
    assert runs.resolve_model_path(str(run.model_path), tmp_path) == run.model_path
    with pytest.raises(ModelError, match="no such model file"):
        runs.resolve_model_path(str(tmp_path / "missing.keras"), tmp_path)
    with pytest.raises(ModelError, match="no such run directory"):
        runs.resolve_model_path("../../etc/passwd", tmp_path)
    with pytest.raises(InputError, match="Invalid run id"):
        runs.resolve_model_path("..", tmp_path)


def test_stop_request_and_delete(tmp_path):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r")
    assert not runs.stop_requested(run.path)
    runs.request_stop(run.path)
    assert runs.stop_requested(run.path)
    with pytest.raises(InputError, match="still training"):
        runs.delete_run("r", tmp_path)
    runs.update_meta(run, status="completed")
    runs.delete_run("r", tmp_path)
    assert not run.path.exists()
    runs.create_run("fast-cnn", models_dir=tmp_path, run_id="default", status="completed")
    with pytest.raises(InputError, match="cannot be deleted"):
        runs.delete_run("default", tmp_path)


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tmp_path, monkeypatch):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r", status="completed")
    stale = [run.path / ".model.keras.abc123.tmp.keras", run.path / ".progress.json.def456.tmp"]
    fresh = run.path / ".model.keras.ghi789.tmp.keras"  # a save in progress right now
    kept = [fresh, run.path / "model.keras", run.path / ".hidden-but-not-ours"]
    for path in [*stale, *kept]:
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for path in [*stale, run.path / "model.keras", run.path / ".hidden-but-not-ours"]:
        os.utime(path, (two_hours_ago, two_hours_ago))

    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    assert runs.remove_stale_temp_files(tmp_path) == []  # the demo writes nothing
    monkeypatch.delenv("MNIST_STUDIO_DEMO")
    assert sorted(runs.remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert runs.remove_stale_temp_files(tmp_path / "missing") == []


def test_a_run_json_from_before_typing_loads_as_typed_metadata(tmp_path):
    """The first shipped default (best-cnn, 2026-11-21) was written before run.json was typed
    (a top-level "seed" too): such a file still reads."""
    (tmp_path / "default").mkdir()
    shutil.copy(Path(__file__).parent / "old_format_run.json", tmp_path / "default" / "run.json")
    run = runs.read_run(tmp_path / "default")
    assert run.error is None and run.status == "completed"
    assert run.meta.params == runs.RunParams(
        epochs=12, batch_size=128, learning_rate=0.003, seed=42, val_fraction=0.05
    )
    assert run.meta.data.test_examples == 10000 and run.meta.test_accuracy == 0.996
    assert run.meta.created_at is None and run.label() == "default (shipped) · best-cnn · 99.60%"


def test_the_shipped_run_json_loads():
    run = runs.read_run(Path(__file__).resolve().parent.parent / "models" / "default")
    assert run.error is None and run.status == "completed" and run.meta.preset == "robust-cnn"
    assert run.meta.data.test_examples == 10000 and run.meta.test_accuracy >= 0.996
    assert run.label().startswith("default (shipped) · robust-cnn · ")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"started_at": 123}, "started_at must be text, got 123"),
        ({"params": "x"}, "params must be an object"),
        ({"params": {"epochs": "ten"}}, "params.epochs must be a whole number"),
        ({"params": {"epochs": 1}}, "params.batch_size is missing"),
        ({"test_accuracy": "high"}, "test_accuracy must be a number"),
        ({"pid": True}, "pid must be a whole number"),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"data": {"source": "x"}}, "data.sha256 is missing"),
        ({"preset": None}, "preset must be text"),
    ],
)
def test_a_badly_typed_run_json_reads_as_invalid_with_the_reason(tmp_path, change, reason):
    run = runs.create_run("fast-cnn", models_dir=tmp_path, run_id="r", status="completed")
    raw = {**json.loads((run.path / "run.json").read_text()), **change}
    (run.path / "run.json").write_text(json.dumps(raw))
    (listed,) = runs.list_runs(tmp_path)  # listing still works
    assert listed.status == "invalid" and reason in listed.error
    assert listed.label() == "r · ? · unreadable"
    with pytest.raises(ValueError, match="must be|missing|not one of"):
        runs.update_meta(run, **change)  # and nothing writes such a file


def test_links_in_the_models_folder_are_refused_not_followed(tmp_path):
    """A run folder that is a link (to a folder outside models/), and a model.keras that is
    a link (to /etc/passwd): shown as unreadable or refused by name; deleting removes the
    link only; nothing is read or removed through them."""
    outside = tmp_path / "outside"
    real = runs.create_run("fast-cnn", models_dir=outside, run_id="real", status="completed")
    (real.path / "model.keras").write_bytes(b"precious")
    old = time.time() - 2 * runs.STALE_TEMP_S
    (real.path / ".model.keras.x.tmp").write_bytes(b"")
    os.utime(real.path / ".model.keras.x.tmp", (old, old))
    models = tmp_path / "models"
    models.mkdir()
    (models / "linked").symlink_to(real.path, target_is_directory=True)
    passwd = runs.create_run("fast-cnn", models_dir=models, run_id="passwd", status="completed")
    (passwd.path / "model.keras").symlink_to("/etc/passwd")

    listed = {r.id: r for r in runs.list_runs(models)}
    assert listed["linked"].status == "invalid" and "link" in listed["linked"].error
    assert not listed["linked"].has_model and not listed["passwd"].has_model
    with pytest.raises(ModelError, match="cannot be used: the run folder is a link"):
        runs.resolve_model_path("linked", models)
    with pytest.raises(ModelError, match="'passwd': model.keras is a link to another file"):
        runs.resolve_model_path("passwd", models)
    assert runs.remove_stale_temp_files(models) == []  # not through the link
    runs.delete_run("linked", models)
    assert (
        not (models / "linked").exists() and (real.path / "model.keras").read_bytes() == b"precious"
    )
    assert (real.path / ".model.keras.x.tmp").exists()


# --------------------------------------------------------------------------- weight snapshots


def _snapshots(**change) -> runs.WeightSnapshots:
    fields = {
        "layer": "conv2d",
        "kind": "conv",
        "epochs": np.array([0, 1, 3]),
        "images": np.linspace(-1, 1, 3 * 4 * 5 * 5).reshape(3, 4, 5, 5),
        **change,
    }
    return runs.WeightSnapshots(**fields)


def test_weight_snapshots_round_trip_as_float16(tmp_path):
    images = np.linspace(-1, 1, 3 * 4 * 5 * 5).reshape(3, 4, 5, 5) * np.pi
    images[0, 0, 0, 0] = 1e6  # beyond float16: clipped to its largest, not infinity
    runs.write_weight_snapshots(tmp_path, _snapshots(images=images))
    back = runs.read_weight_snapshots(tmp_path)
    assert (back.layer, back.kind, back.epochs.tolist()) == ("conv2d", "conv", [0, 1, 3])
    assert back.epochs.dtype == np.int64 and back.images.dtype == np.float32
    expected = np.clip(images, -65504, 65504).astype(np.float16).astype(np.float32)
    assert expected[0, 0, 0, 0] == 65504
    np.testing.assert_array_equal(back.images, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]  # no temporaries


def _write_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


GOOD = {"layer": np.asarray("d"), "kind": np.asarray("dense"), "epochs": np.array([0, 1])}


def test_weight_snapshots_written_elsewhere_read_too(tmp_path):
    """The file format, not our writer: the damaged files below start from this good one."""
    _write_npz(tmp_path / runs.WEIGHTS_FILE, **GOOD, images=np.ones((2, 3, 28, 28)))
    back = runs.read_weight_snapshots(tmp_path)
    assert back.kind == "dense" and back.images.shape == (2, 3, 28, 28)


def _damage(folder: Path, how: str) -> None:
    good = GOOD
    file = folder / runs.WEIGHTS_FILE
    if how == "truncated":
        runs.write_weight_snapshots(folder, _snapshots())
        file.write_bytes(file.read_bytes()[:300])
    elif how == "not a zip":
        file.write_text("<html>not weights</html>")
    elif how == "pickled objects":  # np.load refuses pickles: nothing of ours is one
        _write_npz(file, **good, images=np.array([{"x": 1}, None], dtype=object))
    elif how == "no images":
        _write_npz(file, **good)
    elif how == "images of 3 axes":
        _write_npz(file, **good, images=np.zeros((2, 28, 28), np.float16))
    elif how == "dense not 28x28":
        _write_npz(file, **good, images=np.zeros((2, 4, 5, 5), np.float16))
    elif how == "one epoch too many":
        _write_npz(file, **good, images=np.zeros((1, 4, 28, 28), np.float16))
    elif how == "epochs going back":
        epochs = np.array([1, 0])
        _write_npz(file, **{**good, "epochs": epochs}, images=np.zeros((2, 4, 28, 28)))
    elif how == "unknown kind":
        kind = np.asarray("lstm")
        _write_npz(file, **{**good, "kind": kind}, images=np.zeros((2, 4, 28, 28)))
    elif how == "a folder":
        file.mkdir()
    elif how == "a link":
        runs.write_weight_snapshots(folder.parent, _snapshots())
        file.symlink_to(folder.parent / runs.WEIGHTS_FILE)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "not a zip",
        "pickled objects",
        "no images",
        "images of 3 axes",
        "dense not 28x28",
        "one epoch too many",
        "epochs going back",
        "unknown kind",
        "a folder",
        "a link",
    ],
)
def test_missing_or_damaged_weight_snapshots_read_as_none(tmp_path, how):
    run = tmp_path / "run"
    run.mkdir()
    assert runs.read_weight_snapshots(run) is None  # missing
    _damage(run, how)
    assert runs.read_weight_snapshots(run) is None


def test_weight_snapshots_that_would_unpack_too_big_are_not_read(tmp_path, monkeypatch):
    runs.write_weight_snapshots(tmp_path, _snapshots())
    monkeypatch.setattr(runs, "MAX_WEIGHTS_BYTES", 1000)  # it unpacks to about 1.1 KB
    assert runs.read_weight_snapshots(tmp_path) is None
    monkeypatch.setattr(runs, "MAX_WEIGHTS_BYTES", 10_000)
    assert runs.read_weight_snapshots(tmp_path).images.shape == (3, 4, 5, 5)


def test_quick_runs_are_marked_and_say_what_they_learned_from(tmp_path):
    """Menus tell a quick run (a slice of the training images) from a full one, and say when an
    accuracy was measured on fewer than the 10,000 test images (only tests and the CLI do that)."""
    data = {"source": "x", "sha256": {}, "train_examples": 1800, "val_examples": 200}
    quick = runs.RunParams(1, 32, 0.001, 1, 0.1, train_limit=2000)
    run = runs.create_run("fast-cnn", quick, models_dir=tmp_path, run_id="q")
    run = runs.update_meta(
        run, status="completed", test_accuracy=0.95, data={**data, "test_examples": 10000}
    )
    assert run.is_quick and run.train_images == 2000 and run.test_images == 10000
    assert run.label() == "q · fast-cnn · 95.00% · quick: 2,000 images"

    whole = runs.RunParams(1, 32, 0.001, 1, 0.1)
    full = runs.create_run("fast-cnn", whole, models_dir=tmp_path, run_id="f")
    full = runs.update_meta(
        full, status="completed", test_accuracy=0.99, data={**data, "test_examples": 500}
    )
    assert not full.is_quick and full.train_images == 60000
    assert full.label() == "f · fast-cnn · 99.00% on 500 test images"


ODD_NAMES = ["  My first   CNN ", "Zahlen 数字 ✏️", '<b>bold</b> & <script>x</script> "quoted"']


def test_runs_are_named_at_start_and_renamed_later_with_any_characters(tmp_path):
    from mnist_core.config import TrainConfig, prepare_run

    run = prepare_run(TrainConfig("fast-cnn", title=ODD_NAMES[0], note="line 1\nline\t2"), tmp_path)
    assert run.name == "My first CNN" and run.meta.note == "line 1\nline 2"
    assert run.id.endswith(run.id[-4:]) and run.id != run.name  # the folder id stays as it was
    with pytest.raises(InputError, match="still queued"):
        runs.rename_run(run, "too early")  # the worker would write over it
    runs.update_meta(run, status="completed")
    for name in ODD_NAMES[1:]:
        again = runs.rename_run(runs.read_run(run.path), name)
        assert runs.read_run(run.path).name == name == again.name  # kept as typed
        assert runs.read_run(run.path).meta.note == "line 1\nline 2"  # None keeps the note
    runs.rename_run(run, "", note="")
    assert runs.read_run(run.path).name == run.id
    with pytest.raises(InputError, match="at most 80"):
        runs.rename_run(run, "x" * 81)
    with pytest.raises(InputError, match="at most 80"):
        prepare_run(TrainConfig("fast-cnn", title="y" * 81), tmp_path)
    assert len(runs.list_runs(tmp_path)) == 1  # nothing written for a refused request
