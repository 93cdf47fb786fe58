"""What a hosted demo relies on: Streamlit's XSRF protection stays on, and demo mode
(`MNIST_STUDIO_DEMO=1`) leaves the disk exactly as it found it, whatever a visitor tries."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_draw import canvas_with, stroke_of_one  # tests/app/test_draw.py

from mnist_core import runs
from mnist_core.errors import InputError
from mnist_core.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".streamlit" / "config.toml"
TIMEOUT = 90


def test_xsrf_protection_is_on_and_demo_mode_leaves_it_on(monkeypatch):
    settings = tomllib.loads(CONFIG.read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert (
        settings["server"].get("enableCORS", True) is True
    )  # turning CORS off would turn XSRF off
    assert settings["server"]["maxUploadSize"] == 5
    assert settings["client"]["showErrorDetails"] == "none"

    from streamlit import config

    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working directory
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    config.get_config_options(force_reparse=True)
    assert config.get_option("server.enableXsrfProtection") is True
    # No code of ours changes Streamlit's settings at run time, in demo mode or not.
    sources = [
        ROOT / "streamlit_app.py",
        *(ROOT / "pages").glob("*.py"),
        *(ROOT / "mnist_core").glob("*.py"),
    ]
    for source in sources:
        text = source.read_text()
        assert "set_option" not in text and "enableXsrfProtection" not in text, source


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder` (hidden ones too), with its size and mtime."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_demo_mode_writes_nothing_whatever_a_visitor_tries(own_models, monkeypatch):
    models = own_models("second")
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    before = _snapshot(models)

    with canvas_with(stroke_of_one()):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
        assert not at.exception
        at.switch_page("pages/train.py").run()
        assert not at.exception and at.button(key="train_start").disabled
        at.switch_page("pages/evaluate.py").run()
        assert not at.exception and at.metric
        at.switch_page("pages/draw.py").run()
        assert not at.exception and [m.label for m in at.metric] == ["Prediction"]
        at.switch_page("pages/compare.py").run()
        assert not at.exception and not at.button  # no Delete button to press

    # Defence in depth: what the disabled buttons would have called refuses as well.
    from pages import shared

    with pytest.raises(InputError, match="turned off in this demo"):
        shared.training_queue().submit(TrainConfig("seed-mlp-dropout", epochs=1, train_limit=500))
    with pytest.raises(InputError, match="turned off in this demo"):
        runs.delete_run("second")
    assert _snapshot(models) == before
