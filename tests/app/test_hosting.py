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


def _settings() -> dict[str, tuple]:
    """Every Streamlit setting now in force: its value and where it came from."""
    from streamlit import config

    return {name: (o.value, o.where_defined) for name, o in config.get_config_options().items()}


@pytest.mark.parametrize("demo", ["1", "0"])
def test_xsrf_protection_is_on_and_no_visit_changes_a_setting(own_models, monkeypatch, demo):
    settings = tomllib.loads(CONFIG.read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert (
        settings["server"].get("enableCORS", True) is True
    )  # turning CORS off would turn XSRF off
    assert settings["server"]["maxUploadSize"] == 5
    assert settings["client"]["showErrorDetails"] == "none"

    from streamlit import config

    own_models("second")
    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working directory
    monkeypatch.setenv("MNIST_STUDIO_DEMO", demo)
    config.get_config_options(force_reparse=True)
    assert config.get_option("server.enableXsrfProtection") is True
    assert config.get_option("server.enableCORS") is True
    before = _settings()

    # What a server and its visitors run, in demo mode or not: serve.py's warm-up, then every
    # page with something to do on it. None of it may change a Streamlit setting.
    from pages import shared

    shared.warm_up()
    with canvas_with(stroke_of_one()):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
        for page in ["train", "evaluate", "draw", "compare", "home"]:
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, page
            assert _settings() == before, page
        at.switch_page("pages/draw.py").run()
        at.multiselect(key="draw_compare").set_value(["second"]).run()
        at.switch_page("pages/evaluate.py").run()
        at.toggle(key="evaluate_normalise").set_value(True).run()
        assert not at.exception
    assert _settings() == before
    assert config.get_option("server.enableXsrfProtection") is True


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
