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

from fresh_python import run_demo_script

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
        for page in ["train", "evaluate", "draw", "inside", "compare", "home"]:
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
        at.switch_page("pages/inside.py").run()
        assert not at.exception and at.metric
        at.switch_page("pages/compare.py").run()
        assert not at.exception and not at.button  # no Delete button to press

    # Defence in depth: what the disabled buttons would have called refuses as well.
    from pages import shared

    with pytest.raises(InputError, match="turned off in this demo"):
        shared.training_queue().submit(TrainConfig("seed-mlp-dropout", epochs=1, train_limit=500))
    with pytest.raises(InputError, match="turned off in this demo"):
        runs.delete_run("second")
    assert _snapshot(models) == before


# A fresh interpreter, as a server starts, visiting every page in demo mode (all that the
# Draw page offers included); the folders are listed inside it, before and after, since
# AutoGraph's files (the leftovers this guards against) went only at a clean exit.
_VISIT_EVERY_PAGE = """
import json, sys, tempfile
from pathlib import Path

root = Path(sys.argv[1])
sys.path[:0] = [str(root), str(root / "tests" / "app")]
folders = [tempfile.gettempdir(), *sys.argv[2:]]

def listing():
    return {f: sorted(str(p.relative_to(f)) for p in Path(f).rglob("*")) for f in folders}

from streamlit.testing.v1 import AppTest  # makes its own temporary folder: listed before
from test_draw import canvas_with, png, stroke_of_one

before = listing()

import numpy as np

big = np.random.default_rng(0).integers(200, 256, (760, 760, 3), dtype=np.uint8)
big[100:660, 370:390] = 0  # a 1 on noisy paper: a PNG of 1.4 MB (Starlette spools over 1 MB)
problems = []
with canvas_with(stroke_of_one()):
    at = AppTest.from_file(str(root / "streamlit_app.py"), default_timeout=90).run()
    for page in ["train", "evaluate", "draw", "inside", "compare", "home"]:
        at.switch_page(f"pages/{page}.py").run()
        problems += [page] if at.exception else []
    at.switch_page("pages/evaluate.py").run()
    at.toggle(key="evaluate_normalise").set_value(True).run()
    at.switch_page("pages/draw.py").run()
    at.multiselect(key="draw_compare").set_value(["second"]).run()
    at.file_uploader(key="draw_upload").set_value(("big.png", png(big), "image/png")).run()
    problems += ["draw"] if at.exception else []
    read = [m.value for m in at.metric]
print(json.dumps({"before": before, "after": listing(), "problems": problems, "read": read}))
"""


def test_every_page_in_demo_mode_leaves_the_temporary_folder_as_it_was(own_models, tmp_path):
    from mnist_core import paths

    models = own_models("second")
    temp = tmp_path / "tmp"
    temp.mkdir()
    folders = [str(models)] + [str(f) for f in (paths.cache_dir(),) if f.is_dir()]
    seen = run_demo_script(_VISIT_EVERY_PAGE, str(ROOT), *folders, temp=temp, timeout=180)
    assert seen["problems"] == [] and seen["read"] == ["1", "1"]  # the drawing, the upload
    assert len(seen["before"][str(temp)]) == 1  # AppTest's folder, removed at its exit
    assert seen["after"] == seen["before"]
    assert list(temp.iterdir()) == []
