"""mnist_core.config: what a queued run is called and described as."""

from __future__ import annotations

from mnist_core import config, runs, specs
from tests.test_specs import LENET


def test_a_custom_runs_description_says_its_networks(tmp_path):
    one = config.prepare_run(config.TrainConfig(spec=specs.check(LENET)), models_dir=tmp_path)
    assert one.meta.description == f"Custom network: {specs.summary(specs.check(LENET))}"
    spec = specs.check({**LENET, "members": 2})
    two = config.prepare_run(config.TrainConfig(spec=spec), models_dir=tmp_path)
    assert two.meta.description.startswith("Custom ensemble: Conv2D 6 5x5 relu → ")
    assert two.meta.description.endswith(" × 2 networks, averaged")
    assert runs.read_run(two.path).meta.spec["members"] == 2
