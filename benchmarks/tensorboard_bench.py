"""What writing TensorBoard event files costs a training (issue 16: under 3% for fast-cnn).

    .venv/bin/python benchmarks/tensorboard_bench.py [--pairs 5] [--preset fast-cnn] [--save]

Trains the preset as the app does (`training.train`, the full training set, the preset's own
epochs) into a temporary models folder, alternately with the event files off
(MNIST_TENSORBOARD=0) and on, after one warm-up run that is not counted. It compares the
fit time each run records (`train_seconds`: model.fit alone, without loading data or the final
test score), as medians, with the load average before and after, since the machine is shared.

On a busy shared machine two trainings differ by more than 3% whatever they write, so it also
times the callback itself: the wall time spent inside its hooks (they run in the training
loop, between steps, so they add to it one for one), as a share of the same run's fit time.
`--save` writes results/tensorboard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_core.callbacks.tensorboard_logs import (  # noqa: E402
    ENV_SWITCH,
    FOLDER,
    RunTensorBoard,
)

RESULTS = ROOT / "benchmarks" / "results" / "tensorboard.json"


HOOK_SECONDS = [0.0]  # wall time inside RunTensorBoard's hooks during the current run


def _timed(method):
    def hook(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            HOOK_SECONDS[0] += time.perf_counter() - start

    return hook


for _name in [n for n in dir(RunTensorBoard) if n.startswith("on_") or n == "set_model"]:
    setattr(RunTensorBoard, _name, _timed(getattr(RunTensorBoard, _name)))


def _fit_seconds(preset: str, models: Path, on: bool, data) -> tuple[float, int, float]:
    """One training of `preset`: (its fit seconds, bytes of event files, seconds in hooks)."""
    from mnist_core.training import TrainConfig, train

    os.environ[ENV_SWITCH] = "1" if on else "0"
    HOOK_SECONDS[0] = 0.0
    run = train(TrainConfig(preset), models_dir=models, data=data)
    folder = run.path / FOLDER
    written = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return run.meta.train_seconds, written, HOOK_SECONDS[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="runs without and with, each")
    parser.add_argument("--preset", default="fast-cnn")
    parser.add_argument("--save", action="store_true", help="write results/tensorboard.json")
    args = parser.parse_args()

    from mnist_core.data import load_mnist

    data = load_mnist()
    load_before = os.getloadavg()
    off, on, sizes, shares = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="tensorboard-bench-") as folder:
        models = Path(folder)
        _fit_seconds(args.preset, models, True, data)  # warm-up: imports, first traces
        for pair in range(args.pairs):
            # Alternate which goes first, so a drift in the machine's load hits both alike.
            for state in (False, True) if pair % 2 == 0 else (True, False):
                seconds, written, in_hooks = _fit_seconds(args.preset, models, state, data)
                (on if state else off).append(seconds)
                if state:
                    sizes.append(written)
                    shares.append(100 * in_hooks / seconds)
                print(
                    f"pair {pair + 1}: {'on ' if state else 'off'} {seconds:.2f} s"
                    + (f", {in_hooks:.3f} s in the callback" if state else ""),
                    flush=True,
                )
    load_after = os.getloadavg()
    median_off, median_on = statistics.median(off), statistics.median(on)
    result = {
        "preset": args.preset,
        "pairs": args.pairs,
        "fit_seconds_off": off,
        "fit_seconds_on": on,
        "median_off_s": round(median_off, 3),
        "median_on_s": round(median_on, 3),
        "overhead_percent": round(100 * (median_on / median_off - 1), 2),
        "callback_share_percent": [round(v, 2) for v in shares],
        "median_callback_share_percent": round(statistics.median(shares), 2),
        "event_bytes_per_run": int(statistics.median(sizes)),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=1))
    if args.save:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
