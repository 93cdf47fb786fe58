"""mnist_core.atomic: a failed or killed write never leaves a half-written file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mnist_core import atomic


def test_write_json_and_permissions(tmp_path):
    target = tmp_path / "sub" / "run.json"
    atomic.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # readable by others, unlike mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old complete model")

    def failing_writer(tmp):
        tmp.write_bytes(b"half a mod")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_with(target, failing_writer, suffix=".tmp.keras")
    assert target.read_bytes() == b"old complete model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    """A read-only or full file system at the last step: old file intact, no temporary left."""
    target = tmp_path / "history.csv"
    target.write_text("epoch\n1\n")

    def read_only(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OSError, match="Read-only"):
        atomic.write_text(target, "epoch\n1\n2\n")
    assert target.read_text() == "epoch\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_save_model_uses_a_keras_suffix(tmp_path):
    saved = []

    class FakeModel:
        def save(self, path):
            assert str(path).endswith(".keras")  # Keras refuses other extensions
            saved.append(path)
            path.write_bytes(b"zip")

    atomic.save_model(FakeModel(), tmp_path / "model.keras")
    assert (tmp_path / "model.keras").read_bytes() == b"zip"
    assert not saved[0].exists()
