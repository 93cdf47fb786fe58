"""What to train: a training request (`TrainConfig`), checked and resolved against its
preset or its own network spec, and the run directory it becomes (`prepare_run`). No
TensorFlow here, so a server can queue a request, and the command line refuse a bad one,
without loading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import runs, specs
from .errors import InputError
from .presets import get_preset

# Sane bounds for what a user may ask for (the app's sliders use the same numbers).
BOUNDS = {
    **{k: specs.BOUNDS[k] for k in ("epochs", "batch_size", "learning_rate", "val_fraction")},
    "seed": (0, 2**31 - 1),
    "train_limit": (100, 60000),
    "test_limit": (100, 10000),
}
CUSTOM = "custom"  # what a run of a network that is no preset is called


@dataclass
class TrainConfig:
    """A training request: a preset, or a network spec of one's own (`spec`, then `preset`
    only names the run, "custom" by default), and what to change. None means "the spec's"."""

    preset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    val_fraction: float | None = None
    train_limit: int | None = None  # use only the first N training images (quick runs, tests)
    test_limit: int | None = None  # evaluate on only the first N test images
    spec: specs.Spec | None = None  # a network of one's own (a preset's spec when None)
    title: str = ""  # what people call the run ("" : its folder id)
    note: str = ""  # a note of theirs about it

    @property
    def name(self) -> str:
        """What the run is called: the preset's name, or "custom" for a spec of one's own."""
        if self.spec is None:
            if self.preset is None:
                raise InputError("say what to train: a preset or a network spec")
            return get_preset(self.preset).name
        return runs.validate_run_id(self.preset or CUSTOM)

    def base_spec(self) -> specs.Spec:
        return self.spec if self.spec is not None else get_preset(self.name).spec

    def resolve_spec(self) -> specs.Spec:
        """The spec that will be trained: this request's changes applied, all checked."""
        params = self.resolve()
        return self.base_spec().replace(
            epochs=params.epochs,
            batch_size=params.batch_size,
            learning_rate=params.learning_rate,
            val_fraction=params.val_fraction,
        )

    def resolve(self) -> runs.RunParams:
        """The full parameter set with the spec's defaults filled in; InputError when out of
        range."""
        preset = self.base_spec()
        params = {
            "epochs": preset.epochs if self.epochs is None else self.epochs,
            "batch_size": preset.batch_size if self.batch_size is None else self.batch_size,
            "learning_rate": preset.learning_rate
            if self.learning_rate is None
            else self.learning_rate,
            "seed": self.seed,
            "val_fraction": preset.val_fraction if self.val_fraction is None else self.val_fraction,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
        }
        for name, value in params.items():
            if value is None:
                continue
            low, high = BOUNDS[name]
            kind = float if name in ("learning_rate", "val_fraction") else int
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not float(value).is_integer())
                or not math.isfinite(value)
            ):
                raise InputError(f"{name} must be a number, got {value!r}")
            if not low <= value <= high:
                raise InputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
            params[name] = kind(value)
        return runs.RunParams(**params)


def prepare_run(
    config: TrainConfig, models_dir: Path | None = None, run_id: str | None = None
) -> runs.Run:
    """Check `config` and create its run directory (status "queued", the spec to train in
    run.json); InputError for out-of-range parameters, an unknown preset or a bad spec,
    before anything is written."""
    params, spec, name = config.resolve(), config.resolve_spec(), config.name
    if config.spec is None:
        description = get_preset(name).description
    else:
        kind = "ensemble" if spec.members > 1 else "network"  # summary says of how many
        description = f"Custom {kind}: {specs.summary(spec)}"
    return runs.create_run(
        name,
        params,
        models_dir=models_dir,
        run_id=run_id,
        description=description,
        spec=spec.to_dict(),
        title=runs.clean_text(config.title, runs.TITLE_CHARS),
        note=runs.clean_text(config.note, runs.NOTE_CHARS, lines=True),
    )


def spec_of(meta: runs.RunMeta) -> specs.Spec:
    """The network a run trains or trained: run.json's spec, or its preset's in runs made before
    specs existed. Checked against the full limits (a queued spec was checked when asked for);
    SpecError for a run.json whose spec was damaged or edited into a bad one."""
    if meta.spec is not None:
        return specs.check(meta.spec, specs.LIMITS)
    return get_preset(meta.preset).spec
