"""MNIST Studio benchmarks: `make bench` (or `.venv/bin/python benchmarks/run.py [--only ...]`).

Sections (each measured side by side in one process on one machine, reported in seconds
and as ratios):
    train    time to 99.0% test accuracy, fast-cnn against keras-convnet
    best     best-cnn accuracy and training time; each seed preset against what its seed reported
    latency  single-image prediction (the Draw page's path) against plain model.predict
    eval     full test-set evaluation, every metric
    app      server start to rendered home page, stroke end to new prediction, peak memory

Writes benchmarks/results/latest.json and latest.md and prints the table. No assertions:
the targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mnist_core import runs  # noqa: E402
from mnist_core.data import load_mnist, normalise  # noqa: E402
from mnist_core.training import TrainConfig, TrainingListener, environment, train  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ("train", "best", "latency", "eval", "app")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# --------------------------------------------------------------------------- training

class TestAccuracyEachEpoch(TrainingListener):
    """Evaluates the test set after every epoch; its own time is taken out of the clock.

    With `target`, training stops at the end of the first epoch that reaches it.
    """

    def __init__(self, x_test, y_test, target: float | None = None):
        self.x, self.y, self.target = normalise(x_test), y_test, target
        self.model, self.eval_seconds, self.points = None, 0.0, []
        self.reached_at: float | None = None

    def on_model(self, model):
        self.model = model

    def on_epoch(self, row):
        start = time.monotonic()
        probs = self.model.predict(self.x, batch_size=1024, verbose=0)
        accuracy = float((probs.argmax(axis=1) == self.y).mean())
        training_time = row["elapsed_s"] - self.eval_seconds  # elapsed_s holds earlier evaluations
        self.points.append({"epoch": row["epoch"], "seconds": round(training_time, 2),
                            "test_accuracy": accuracy})
        if self.target is not None and accuracy >= self.target and self.reached_at is None:
            self.reached_at = training_time
            self.model.stop_training = True
        self.eval_seconds += time.monotonic() - start


def bench_time_to_accuracy(data, models_dir: Path, target: float = 0.99) -> dict:
    results = {}
    for preset in ("fast-cnn", "keras-convnet"):
        log(f"training {preset} until {target:.1%} test accuracy")
        listener = TestAccuracyEachEpoch(data.x_test, data.y_test, target)
        run = train(TrainConfig(preset), listeners=[listener], models_dir=models_dir, data=data)
        results[preset] = {"seconds_to_target": listener.reached_at, "epochs": listener.points,
                           "final_test_accuracy": run.meta["test_accuracy"],
                           "train_seconds": run.meta["train_seconds"]}
        log(f"{preset}: {listener.reached_at} s to {target:.1%}; epochs {listener.points}")
    fast, base = results["fast-cnn"]["seconds_to_target"], results["keras-convnet"]["seconds_to_target"]
    results["speedup"] = base / fast if fast and base else None
    results["target"] = target
    return results


def bench_best_and_seeds(data, models_dir: Path, presets_to_run: list[str]) -> dict:
    from mnist_core.presets import PRESETS

    results = {}
    for name in presets_to_run:
        log(f"training {name} with its defaults")
        run = train(TrainConfig(name), models_dir=models_dir, data=data)
        results[name] = {"test_accuracy": run.meta["test_accuracy"],
                         "train_seconds": run.meta["train_seconds"],
                         "reported_accuracy": PRESETS[name].reported_accuracy,
                         "epochs": run.meta["params"]["epochs"]}
        log(f"{name}: {results[name]}")
    return results


# --------------------------------------------------------------------------- inference

def synthetic_drawing(digit_image: np.ndarray) -> np.ndarray:
    """A 280x280 RGBA canvas image like the Draw page sends: a test digit drawn off-centre."""
    from PIL import Image

    big = Image.fromarray(digit_image).resize((150, 150), Image.BILINEAR)
    canvas = Image.new("L", (280, 280), 0)
    canvas.paste(big, (100, 30))
    gray = np.asarray(canvas)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def bench_latency(data, model_path: Path, calls: int = 300, predict_calls: int = 60) -> dict:
    import keras

    from mnist_core.inference import Predictor, load_model, predict_image
    from mnist_core.preprocess import to_mnist

    predictor = Predictor(load_model(model_path))
    drawing = synthetic_drawing(data.x_test[0])
    for _ in range(10):
        predict_image(predictor, drawing)
    fast = []
    for _ in range(calls):
        start = time.perf_counter()
        predict_image(predictor, drawing)
        fast.append((time.perf_counter() - start) * 1000)
    pre = []
    for _ in range(calls):
        start = time.perf_counter()
        to_mnist(drawing)
        pre.append((time.perf_counter() - start) * 1000)
    model = keras.saving.load_model(model_path)
    x = to_mnist(drawing)[None, :, :, None]
    model.predict(x, verbose=0)
    slow = []
    for _ in range(predict_calls):
        start = time.perf_counter()
        model.predict(x, verbose=0)
        slow.append((time.perf_counter() - start) * 1000)
    return {"draw_path_ms": {"p50": percentile(fast, 50), "p99": percentile(fast, 99), "calls": calls},
            "preprocess_only_ms": {"p50": percentile(pre, 50), "p99": percentile(pre, 99)},
            "model_predict_ms": {"p50": percentile(slow, 50), "p99": percentile(slow, 99),
                                 "calls": predict_calls},
            "speedup_p50": percentile(slow, 50) / percentile(fast, 50)}


def bench_evaluation(data, model_path: Path, repeats: int = 5) -> dict:
    from mnist_core.evaluation import evaluate
    from mnist_core.inference import Predictor, load_model

    predictor = Predictor(load_model(model_path))
    predictor.predict_batch(normalise(data.x_test[:1024]))  # trace once, as a server would have
    times, accuracy = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = evaluate(predictor.predict_batch(normalise(data.x_test)), data.y_test)
        result.to_dict()
        times.append(time.perf_counter() - start)
        accuracy = result.accuracy
    return {"seconds_median": statistics.median(times), "seconds_all": times, "images": len(data.x_test),
            "accuracy": accuracy}


# --------------------------------------------------------------------------- report

def machine() -> dict:
    env = environment()
    return {"cpu_count": env["cpu_count"], "processor": env["processor"], "platform": env["platform"],
            "tensorflow": env["tensorflow"], "keras": env["keras"], "python": env["python"],
            "load_average_at_start": os.getloadavg()[0]}


def fmt(value, spec=".2f", none="n/a") -> str:
    return none if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Measured {report['date']} on {m['cpu_count']} cores ({m['processor']}), "
             f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, Python {m['python']}; load average "
             f"{m.get('load_average_at_start', float('nan')):.1f} at the start, "
             f"{report.get('load_average_at_end', float('nan')):.1f} at the end.", ""]
    if len(set(report.get("dates", {}).values())) > 1:
        lines += ["Sections measured at: " + ", ".join(f"{k} {v}" for k, v in report["dates"].items()) + ".", ""]
    lines += ["| benchmark | measured | compared with | ratio | target |", "|---|---|---|---|---|"]
    r = report["results"]
    if "train" in r:
        t = r["train"]
        fast, base = t["fast-cnn"], t["keras-convnet"]
        lines.append(f"| time to {t['target']:.1%} test accuracy, fast-cnn | {fmt(fast['seconds_to_target'], '.1f')} s "
                     f"| keras-convnet {fmt(base['seconds_to_target'], '.1f')} s | {fmt(t['speedup'], '.1f')}× faster "
                     f"| ≤ 10 s |")
    if "best" in r:
        for name, b in r["best"].items():
            reported = b["reported_accuracy"]
            target = "≥ 99.6%, ≤ 600 s" if name == "best-cnn" else "-"
            lines.append(f"| {name} test accuracy ({b['epochs']} epochs) | {b['test_accuracy']:.2%} in "
                         f"{b['train_seconds']:.0f} s | reported {fmt(reported, '.2%', 'none')} | "
                         f"{fmt(b['test_accuracy'] - reported if reported else None, '+.2%', '-')} | {target} |")
    if "latency" in r:
        lat = r["latency"]
        lines.append(f"| single-image prediction, Draw path (preprocess + model), p50 / p99 | "
                     f"{lat['draw_path_ms']['p50']:.2f} / {lat['draw_path_ms']['p99']:.2f} ms | model.predict "
                     f"{lat['model_predict_ms']['p50']:.1f} / {lat['model_predict_ms']['p99']:.1f} ms | "
                     f"{lat['speedup_p50']:.0f}× faster (p50) | p50 ≤ 2 ms |")
    if "eval" in r:
        ev = r["eval"]
        lines.append(f"| full test-set evaluation ({ev['images']} images, every metric), median of "
                     f"{len(ev['seconds_all'])} | {ev['seconds_median']:.2f} s | - | - | ≤ 2 s |")
    if "app" in r:
        app = r["app"]
        for key, label, target in (("home_render_s", "server answers → home page rendered", "≤ 3 s"),
                                   ("server_start_s", "process start → server answers", "-"),
                                   ("stroke_to_prediction_ms", "end of stroke → Prediction changes", "≤ 500 ms"),
                                   ("peak_rss_mb", "peak memory of the app process, default model loaded", "-")):
            if key in app:
                value = app[key]
                text = (f"{value['median']:.2f}" if isinstance(value, dict) else fmt(value, ".1f"))
                unit = {"home_render_s": " s", "server_start_s": " s", "stroke_to_prediction_ms": " ms",
                        "peak_rss_mb": " MB"}[key]
                lines.append(f"| {label} | {text}{unit} | - | - | {target} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--seeds", action="store_true", help="also train the three seed MLPs (slow)")
    parser.add_argument("--model", default=None, help="model for latency/eval/app (default: shipped)")
    args = parser.parse_args(argv)
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    data = load_mnist(log=log)
    model_path = runs.resolve_model_path(args.model)
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "model": str(model_path.relative_to(ROOT)) if model_path.is_relative_to(ROOT) else str(model_path),
              "results": {}}
    previous = RESULTS / "latest.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {}
    old_results = old.get("results", {})
    # Sections not re-run this time keep their last figures, and their own date in "dates".
    report["results"].update({k: v for k, v in old_results.items() if k not in sections})
    report["dates"] = {**{k: v for k, v in old.get("dates", {}).items() if k not in sections},
                       **{k: report["date"] for k in sections}}
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        if "train" in sections:
            report["results"]["train"] = bench_time_to_accuracy(data, Path(tmp))
        if "best" in sections:
            names = ["best-cnn"] + (["seed-mlp-128-64-16", "seed-mlp-100-sigmoid", "seed-mlp-dropout"]
                                    if args.seeds else [])
            kept = {k: v for k, v in old_results.get("best", {}).items() if k not in names}
            report["results"]["best"] = {**bench_best_and_seeds(data, Path(tmp), names), **kept}
    if "latency" in sections:
        report["results"]["latency"] = bench_latency(data, model_path)
    if "eval" in sections:
        report["results"]["eval"] = bench_evaluation(data, model_path)
    if "app" in sections:
        from app_bench import bench_app  # noqa: E402  (benchmarks/app_bench.py: needs Chromium)
        report["results"]["app"] = bench_app(ROOT, model_path=model_path)

    report["load_average_at_end"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (RESULTS / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
