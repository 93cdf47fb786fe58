"""The Compare page: the run table, learning curves, and deleting runs (never the default)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@pytest.fixture
def models(own_models, monkeypatch) -> Path:
    """A models directory of our own (runs get deleted): the default and a copy called "second"."""
    monkeypatch.delenv("MNIST_STUDIO_DEMO", raising=False)
    return own_models("second", started_at="2000-01-01T00:00:00+00:00")


def compare_page() -> AppTest:
    """The Compare page, run through the entry point: its "Train again with changes" link
    needs the pages st.navigation registers."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    return at.switch_page("pages/compare.py").run()


def test_table_and_curves_of_every_run(models):
    at = compare_page()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["Run"]) == ["default (shipped)", "second"]
    assert table["Test accuracy"].between(0, 1).all()
    assert list(table["Status"]) == ["Completed", "Completed"]
    assert at.multiselect(key="compare_runs").value == ["default", "second"]
    assert at.get("plotly_chart")
    at.segmented_control(key="compare_metric").set_value("loss").run()
    assert not at.exception and at.get("plotly_chart")
    at.multiselect(key="compare_runs").set_value([]).run()
    assert not at.get("plotly_chart") and at.info


def test_delete_a_run_after_confirming_and_never_the_default(models):
    at = compare_page()
    target = at.selectbox(key="compare_delete")
    assert target.options == [target.format_func("second")]  # the default is never offered
    delete = at.button(key="compare_delete_button")
    assert delete.disabled
    target.set_value("second").run()
    assert at.button(key="compare_delete_button").disabled  # not confirmed yet
    at.checkbox(key="compare_confirm").check().run()
    at.button(key="compare_delete_button").click().run()
    assert not at.exception and not at.error
    assert not (models / "second").exists() and (models / "default").exists()
    assert list(at.dataframe[0].value["Run"]) == ["default (shipped)"]
    assert any("Deleted" in s.value for s in at.success)


def test_invalid_and_running_runs_are_listed_but_running_ones_not_offered(models):
    (models / "broken").mkdir()
    (models / "broken" / "run.json").write_text("{not json")
    shutil.copytree(models / "second", models / "training")
    meta = json.loads((models / "training" / "run.json").read_text())
    meta.update(status="running", pid=os.getpid(), host=None)  # this process: alive
    (models / "training" / "run.json").write_text(json.dumps(meta))
    at = compare_page()
    assert not at.exception
    statuses = dict(zip(at.dataframe[0].value["Run"], at.dataframe[0].value["Status"]))
    assert statuses["broken"] == "Unreadable" and statuses["training"] == "Training"
    offered = at.selectbox(key="compare_delete").options
    assert not any("training" in o for o in offered) and not any("default" in o for o in offered)


def test_demo_mode_hides_deleting(models, monkeypatch):
    monkeypatch.setenv("MNIST_STUDIO_DEMO", "1")
    at = compare_page()
    assert not at.exception
    assert [box.key for box in at.selectbox] == ["compare_again"] and not at.checkbox
    assert any("turned off" in i.value for i in at.info)


def test_runs_with_a_missing_or_invalid_run_json_are_listed_as_unreadable(models, odd_models):
    (models / "no-json").mkdir()
    shutil.copy(models / "default" / "model.keras", models / "no-json" / "model.keras")
    (models / "bad-json").mkdir()
    (models / "bad-json" / "run.json").write_text('["a list, not an object"]')
    shutil.copy(odd_models["corrupt"], models / "bad-json" / "model.keras")
    at = compare_page()
    assert not at.exception and not at.error
    statuses = dict(zip(at.dataframe[0].value["Run"], at.dataframe[0].value["Status"]))
    assert statuses["no-json"] == statuses["bad-json"] == "Unreadable"
    drawable = at.multiselect(key="compare_runs").options  # no curves to draw for them
    assert len(drawable) == 2 and not any("json" in option for option in drawable)
    at.selectbox(key="compare_delete").set_value("bad-json").run()  # and they can be tidied away
    at.checkbox(key="compare_confirm").check().run()
    at.button(key="compare_delete_button").click().run()
    assert not at.exception and not (models / "bad-json").exists()


def test_damaged_runs_show_why_and_a_linked_run_is_unlinked_not_followed(
    damaged_runs, damaged_reasons
):
    at = compare_page()
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("Run")
    for name in ("started-123", "params-x", "linked"):
        assert table.loc[name, "Status"] == "Unreadable"
        assert damaged_reasons[name] in table.loc[name, "Problem"]
    outside = (damaged_runs / "linked").resolve()
    at.selectbox(key="compare_delete").set_value("linked").run()
    at.checkbox(key="compare_confirm").check().run()
    at.button(key="compare_delete_button").click().run()
    assert not at.exception and not at.error and at.success
    assert not (damaged_runs / "linked").exists() and (outside / "model.keras").is_file()


def test_each_run_shows_its_network_and_links_to_train_it_again(models):
    from mnist_core import runs, specs

    spec = specs.check({"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 12}]})
    runs.update_meta(runs.read_run(models / "second"), preset="custom", spec=spec.to_dict())
    at = compare_page()
    assert not at.exception
    table = at.dataframe[0].value
    shipped = "Flatten → Dense 128 relu → Dropout 0.2 → Dense 10 softmax"  # seed-mlp-dropout
    assert list(table["Network"]) == [shipped, "Flatten → Dense 12 → Dense 10 softmax"]
    at.selectbox(key="compare_again").set_value("second").run()
    assert not at.exception
    assert "Network: Flatten → Dense 12 → Dense 10 softmax" in [c.value for c in at.caption]
    [link] = [e for e in at.get("page_link") if e.proto.label == "Train again with changes"]
    assert link.proto.page == "train" and "from=second" in link.proto.query_string


def test_every_column_has_a_help_and_a_few_are_shown(models):
    from pages import run_table

    assert all(config.get("help") for config in run_table.COLUMNS.values())
    at = compare_page()
    assert set(at.dataframe[0].value.columns) == set(run_table.COLUMNS)
    assert at.multiselect(key="compare_columns").value == []  # the usual columns only
    at.multiselect(key="compare_columns").set_value(["Network", "Seed"]).run()
    assert not at.exception


def test_learned_from_counts_what_training_learned_from(tmp_path):
    """Validation images held back are not counted, changed copies are; a run not trained yet
    shows the slice it was given."""
    from mnist_core import runs
    from pages.run_table import learned_from

    def run(run_id, train_limit, counted):
        params = runs.RunParams(1, 32, 0.001, 1, 0.05, train_limit=train_limit)
        made = runs.create_run("robust-cnn", params, models_dir=tmp_path, run_id=run_id)
        if counted is None:
            return made
        data = {"source": "x", "sha256": {}, "train_examples": counted, "val_examples": 3000,
                "test_examples": 10000}  # fmt: skip
        return runs.update_meta(made, status="completed", data=data)

    assert learned_from(run("robust", None, 85_500)) == "85,500 images"
    assert learned_from(run("quick", 2000, 1900)) == "1,900 images (quick)"
    assert learned_from(run("queued", None, None)) == "60,000 images"


@pytest.mark.parametrize("name", ["Zahlen 数字 ✏️", "<b>bold</b> & <img src=x onerror=alert(1)>"])
def test_rename_a_run_shows_the_name_as_text_and_keeps_the_folder(models, name):
    at = compare_page()
    at.selectbox(key="compare_rename").set_value("second").run()
    at.text_input[0].input(name)
    at.text_area[0].input("tried a bigger batch")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and any("Renamed the run second" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert name in list(table["Run"]) and "second" in list(table["Folder"])
    assert list(table.loc[table["Run"] == name, "Note"]) == ["tried a bigger batch"]
    fresh = compare_page()  # a new visit: the usual columns (the folder ids one choice away)
    assert fresh.multiselect(key="compare_columns").value == []
    assert json.loads((models / "second" / "run.json").read_text())["title"] == name
    assert (models / "second").is_dir()
