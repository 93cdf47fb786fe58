"""MNIST Studio benchmarks: `make bench` (or `.venv/bin/python benchmarks/run.py [--only ...]`).

Sections (each measured side by side in one process on one machine, reported in seconds
and as ratios):
    train    fast-cnn on seeds 1-10 against one keras-convnet epoch; accurate-cnn on seeds 1-3
             against keras-convnet's time to 99.0%; robust-ensemble (the most accurate preset)
             against keras-convnet's whole training (benchmarks/speed_targets.py)
    best     with --seeds, each seed project's MLP against the accuracy its seed reported
    latency  single-image prediction (the Draw page's path) against plain model.predict
    eval     full test-set evaluation, every metric
    startup  `predict` on one picture from a cold start against a bare `import tensorflow`
    app      server start to rendered home page, stroke end to new prediction, peak memory
    api      the REST API over loopback: one instance p50, 8 concurrent clients x 200 p95
    explain  how faithful each saliency map is (deletion test, 500 test images) against random
             order and brightest ink first; the time to explain one input

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
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mnist_core import runs  # noqa: E402
from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.training import TrainConfig, environment, train  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SEED_PRESETS = ["seed-mlp-128-64-16", "seed-mlp-100-sigmoid", "seed-mlp-dropout"]
SECTIONS = ("train", "best", "latency", "eval", "startup", "app", "api", "explain")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# --------------------------------------------------------------------------- training


def bench_best_and_seeds(data, models_dir: Path, presets_to_run: list[str]) -> dict:
    from mnist_core.presets import PRESETS

    results = {}
    for name in presets_to_run:
        log(f"training {name} with its defaults")
        run = train(TrainConfig(name), models_dir=models_dir, data=data)
        results[name] = {
            "test_accuracy": run.meta.test_accuracy,
            "train_seconds": run.meta.train_seconds,
            "reported_accuracy": PRESETS[name].reported_accuracy,
            "epochs": run.meta.params.epochs,
        }
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


def interleaved(variants: dict, rounds: int, calls: int) -> dict:
    """Time each variant `calls` times per round, the variants taking turns every round,
    so that a burst of load on the shared machine hits all of them alike. -> ms lists."""
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            for _ in range(calls):
                start = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "calls": len(values)}


def bench_latency(data, model_path: Path, rounds: int = 10) -> dict:
    """The Draw page's path, `predict_image` (preprocessing + Predictor.predict_one), on a
    280x280 RGBA canvas, against plain `model.predict` on the same preprocessed input; also
    its parts, and the path on the TensorFlow engine (the fallback when TFLite cannot run)."""
    import keras

    from mnist_core.inference import Predictor, load_model, predict_image
    from mnist_core.preprocess import to_mnist

    model = load_model(model_path)
    lite, graph = Predictor(model), Predictor(model, engine="tensorflow")
    drawing = synthetic_drawing(data.x_test[0])
    x28 = to_mnist(drawing)
    plain = keras.saving.load_model(model_path)
    x = x28[None, :, :, None]
    # Three groups, each interleaved within itself. Not all together: TensorFlow's thread
    # pools keep spinning for a while after each call, which slowed the TFLite-only calls
    # timed right after them by about 50% (preprocessing p50 1.46 ms against 0.9 ms).
    groups = [
        (
            {
                "draw_path": lambda: predict_image(lite, drawing),
                "preprocess": lambda: to_mnist(drawing),
                "model_tflite": lambda: lite.predict_one(x28),
            },
            30,
        ),
        (
            {
                "model_tensorflow": lambda: graph.predict_one(x28),
                "draw_path_tensorflow_engine": lambda: predict_image(graph, drawing),
            },
            30,
        ),
        ({"model_predict": lambda: plain.predict(x, verbose=0)}, 6),
    ]
    times = {}
    for variants, calls in groups:
        for call in variants.values():
            for _ in range(5):
                call()  # warm-up: first calls allocate
        times.update(interleaved(variants, rounds, calls))
    result = {f"{name}_ms": summary(values) for name, values in times.items()}
    result["engine"] = lite.engine
    result["speedup_p50"] = result["model_predict_ms"]["p50"] / result["draw_path_ms"]["p50"]
    return result


def bench_evaluation(data, model_path: Path, repeats: int = 5) -> dict:
    """Every metric of the 10,000 test images, predictions included, the way the Evaluate
    page and `mnist_core evaluate` do it, on each engine; and with plain `model.predict`."""
    import keras

    from mnist_core.evaluation import score
    from mnist_core.inference import Predictor, load_model

    model = load_model(model_path)
    lite, graph = Predictor(model), Predictor(model, engine="tensorflow")
    plain = keras.saving.load_model(model_path)
    accuracies = {}

    class PlainKeras:  # the Predictor's interface over `model.predict`
        def predict_batch(self, x):
            return plain.predict(x, batch_size=1024, verbose=0)

    def run(name, predictor):
        def call():
            result = score(predictor, data.x_test, data.y_test)
            result.to_dict()
            accuracies[name] = result.accuracy

        return call

    variants = {
        "tflite": run("tflite", lite),
        "tensorflow": run("tensorflow", graph),
        "model_predict": run("model_predict", PlainKeras()),
    }
    for call in variants.values():
        call()  # warm-up: a server has run each once before
    times = interleaved(variants, rounds=repeats, calls=1)
    result = {
        name: {
            "seconds_median": statistics.median(v) / 1000,
            "seconds_all": [t / 1000 for t in v],
            "accuracy": accuracies[name],
        }
        for name, v in times.items()
    }
    result["images"] = len(data.x_test)
    result["engine"] = lite.engine
    return result


# --------------------------------------------------------------------------- report


def machine() -> dict:
    env = environment()
    return {
        "cpu_count": env["cpu_count"],
        "processor": env["processor"],
        "platform": env["platform"],
        "tensorflow": env["tensorflow"],
        "keras": env["keras"],
        "python": env["python"],
        "load_average_at_start": os.getloadavg()[0],
    }


def fmt(value, spec=".2f", none="n/a") -> str:
    return (
        none
        if value is None or (isinstance(value, float) and math.isnan(value))
        else format(value, spec)
    )


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Measured {report['date']} on {m['cpu_count']} cores ({m['processor']}), "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, Python {m['python']}; load average "
        f"{m.get('load_average_at_start', float('nan')):.1f} at the start, "
        f"{report.get('load_average_at_end', float('nan')):.1f} at the end.",
        "",
    ]
    if len(set(report.get("dates", {}).values())) > 1:
        lines += [
            "Sections measured at: "
            + ", ".join(f"{k} {v}" for k, v in report["dates"].items())
            + ".",
            "",
        ]
    for section, error in report.get("failed", {}).items():
        lines += [
            f"**{section} failed in this run** ({error}); its figures below, if any, are "
            "from its previous run.",
            "",
        ]
    if report.get("load_averages"):
        lines += [
            "Load average (1 min) before → after each section: "
            + ", ".join(f"{k} {a:.1f} → {b:.1f}" for k, (a, b) in report["load_averages"].items())
            + ".",
            "",
        ]
    lines += ["| benchmark | measured | compared with | ratio | target |", "|---|---|---|---|---|"]
    r = report["results"]
    if "train" in r and "quick" in r["train"]:
        from speed_targets import speed_rows  # noqa: E402  (benchmarks/speed_targets.py)

        lines += speed_rows(r["train"])
    if "best" in r:
        for name, b in r["best"].items():
            reported = b["reported_accuracy"]
            lines.append(
                f"| {name} test accuracy ({b['epochs']} epochs) | {b['test_accuracy']:.2%} in "
                f"{b['train_seconds']:.0f} s | reported {fmt(reported, '.2%', 'none')} | "
                f"{fmt(b['test_accuracy'] - reported if reported else None, '+.2%', '-')} | - |"
            )
    if "latency" in r:
        lat = r["latency"]

        def ms(key):
            return f"{lat[key]['p50']:.2f} / {lat[key]['p99']:.2f} ms"

        lines.append(
            f"| single-image prediction, Draw path (preprocess + model), p50 / p99 | "
            f"{ms('draw_path_ms')} | model.predict {ms('model_predict_ms')} | "
            f"{lat['speedup_p50']:.0f}× faster (p50) | p50 ≤ 2 ms |"
        )
        if "preprocess_ms" in lat:
            lines.append(
                f"| … its parts: preprocessing / model ({lat['engine']}) | {ms('preprocess_ms')} / "
                f"{ms('model_tflite_ms')} | model on the TensorFlow engine {ms('model_tensorflow_ms')} "
                f"| {lat['model_tensorflow_ms']['p50'] / lat['model_tflite_ms']['p50']:.1f}× faster "
                f"(p50) | - |"
            )
            lines.append(
                f"| … Draw path on the TensorFlow engine (the fallback) | "
                f"{ms('draw_path_tensorflow_engine_ms')} | - | - | - |"
            )
    if "eval" in r:
        ev = r["eval"]
        if "tflite" in ev:
            best, graph, plain = ev["tflite"], ev["tensorflow"], ev["model_predict"]
            lines.append(
                f"| full test-set evaluation ({ev['images']} images, every metric), median of "
                f"{len(best['seconds_all'])} | {best['seconds_median']:.2f} s | TensorFlow engine "
                f"{graph['seconds_median']:.2f} s, model.predict {plain['seconds_median']:.2f} s | "
                f"{graph['seconds_median'] / best['seconds_median']:.1f}× / "
                f"{plain['seconds_median'] / best['seconds_median']:.1f}× faster | ≤ 2 s |"
            )
        else:  # results written before the engines were compared
            lines.append(
                f"| full test-set evaluation ({ev['images']} images, every metric), median of "
                f"{len(ev['seconds_all'])} | {ev['seconds_median']:.2f} s | - | - | ≤ 2 s |"
            )
    if "startup" in r:
        from startup_bench import startup_rows  # noqa: E402  (benchmarks/startup_bench.py)

        lines += startup_rows(r["startup"])
    if "app" in r:
        app = r["app"]
        for key, label, target in (
            ("home_first_render_s", "server answers → home page rendered (first visit)", "≤ 3 s"),
            ("home_render_s", "… later visits to the home page, median", "-"),
            ("server_start_s", "process start → server answers (warm-up included)", "-"),
            (
                "first_prediction_s",
                "first stroke on Draw → Prediction (after the home visits)",
                "-",
            ),
            ("stroke_to_prediction_ms", "end of stroke → Prediction changes", "≤ 150 ms"),
            ("peak_rss_mb", "peak memory of the app process, default model loaded", "-"),
        ):
            if key in app:
                value = app[key]
                text = f"{value['median']:.2f}" if isinstance(value, dict) else fmt(value, ".1f")
                unit = " ms" if key.endswith("_ms") else " MB" if key.endswith("_mb") else " s"
                lines.append(f"| {label} | {text}{unit} | - | - | {target} |")
        if app.get("stroke_misses"):
            lines.append(
                f"| strokes not read as drawn (left out above) | {len(app['stroke_misses'])}: "
                f"{'; '.join(app['stroke_misses'])} | - | - | - |"
            )
    if "api" in r and "one_instance_ms" in r["api"]:
        a = r["api"]
        one, read, many = a["one_instance_ms"], a["read_picture_ms"], a["concurrent_ms"]
        lines.append(
            f"| REST API :predict, one instance over loopback, p50 / p95 | {one['p50']:.2f} / "
            f"{one['p95']:.2f} ms | /api/read (PNG, preprocessing included) {read['p50']:.2f} ms "
            f"p50 | - | p50 ≤ 5 ms: {'met' if one['p50'] <= 5 else 'NOT met'} |"
        )
        if "one_instance_new_connection_ms" in a:
            fresh = a["one_instance_new_connection_ms"]
            lines.append(
                f"| … a new connection per request, p50 / p95 | {fresh['p50']:.2f} / "
                f"{fresh['p95']:.2f} ms | - | - | - |"
            )
        pages = many.get("page_visits", 0)
        met = many["p95"] <= 50 and a["wrong"] == 0
        lines.append(
            f"| … {many['clients']} clients × {many['calls'] // many['clients']} requests at once, "
            f"p50 / p95 | {many['p50']:.2f} / {many['p95']:.2f} ms ({many['requests_per_s']:.0f} "
            f"requests/s, {a['wrong']} wrong; {pages} page visits by a browser meanwhile) | - | - "
            f"| p95 ≤ 50 ms, none wrong: {'met' if met else 'NOT met'} |"
        )
    if "explain" in r and "deletion_auc" in r["explain"]:
        lines += explain_rows(r["explain"])
    return "\n".join(lines) + "\n"


def explain_rows(ex: dict) -> list[str]:
    """The explain section's rows: deletion AUC (mean over the images; lower = more faithful)
    of the default method against the two baselines, the other methods, the speed, the MLP."""
    auc, default = ex["deletion_auc"], ex["default_method"]
    mean = {name: figures["mean"] for name, figures in auc.items()}
    ink, rnd = mean["ink-first"], mean["random"]
    others = [m for m in auc if m not in (default, "ink-first", "random")]
    rows = [
        f"| deletion AUC of the default saliency map ({default}), mean over {ex['images']} test "
        f"images (lower = more faithful) | {mean[default]:.3f} | brightest ink first {ink:.3f}, "
        f"random order {rnd:.3f} | {mean[default] / ink:.2f}× ink-first's; lower on "
        f"{ex['default_beats_ink']:.0%} of the images | default < ink-first: "
        f"{'met' if mean[default] < ink else 'NOT met'} |"
    ]
    if others:
        rows.append(
            f"| … the other methods: {' / '.join(others)} | "
            f"{' / '.join(f'{mean[m]:.3f}' for m in others)} | - | - | - |"
        )
    speed = ex["speed_ms"]
    whole = speed["all"]
    parts = ", ".join(f"{k} {v['p50']:.1f}" for k, v in speed.items() if k != "all")
    rounds = ex.get("speed_rounds")
    if rounds:  # the cores are shared: the quietest round is what the machine itself does
        each = " / ".join(f"{p:.0f}" for p in rounds["p50_each"])
        best, low, high = rounds["quietest_p50"], min(rounds["load_each"]), max(rounds["load_each"])
        load = f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f} to {high:.1f}"
        rows.append(
            f"| explaining one input (every saliency map + every layer's activations), p50 of "
            f"the quietest of {len(rounds['p50_each'])} rounds | {best:.1f} ms | every round's "
            f"p50 {each} ms (load average {load}); all {whole['calls']} calls p50 / p95 "
            f"{whole['p50']:.1f} / {whole['p95']:.1f} ms | - | p50 ≤ 100 ms: "
            f"{'met' if best <= 100 else 'NOT met'} |"
        )
        rows.append(f"| … its parts, p50 over all calls | {parts} (ms) | - | - | - |")
    else:
        rows.append(
            f"| explaining one input (every saliency map + every layer's activations), p50 / "
            f"p95 | {whole['p50']:.1f} / {whole['p95']:.1f} ms | its parts, p50 in ms: {parts} "
            f"| - | p50 ≤ 100 ms: {'met' if whole['p50'] <= 100 else 'NOT met'} |"
        )
    mlp = ex.get("mlp", {})
    if "deletion_auc" in mlp:
        m = {name: figures["mean"] for name, figures in mlp["deletion_auc"].items()}
        methods = [k for k in m if k not in ("ink-first", "random")]
        rows.append(
            f"| … the same for an MLP ({mlp['preset']}, {mlp['epochs']} epoch, "
            f"{mlp['test_accuracy']:.2%}): {' / '.join(methods)} | "
            f"{' / '.join(f'{m[k]:.3f}' for k in methods)} | brightest ink first "
            f"{m['ink-first']:.3f}, random order {m['random']:.3f} | - | - |"
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--seeds", action="store_true", help="also train the three seed MLPs (slow)"
    )
    parser.add_argument(
        "--model", default=None, help="model for latency/eval/app (default: shipped)"
    )
    args = parser.parse_args(argv)
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    data = load_mnist(log=log)
    model_path = runs.resolve_model_path(args.model)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": str(model_path.relative_to(ROOT))
        if model_path.is_relative_to(ROOT)
        else str(model_path),
        "results": {},
    }
    previous = RESULTS / "latest.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {}
    old_results = old.get("results", {})
    # Sections not re-run this time keep their last figures, and their own date in "dates".
    report["results"].update({k: v for k, v in old_results.items() if k not in sections})
    report["dates"] = {
        **{k: v for k, v in old.get("dates", {}).items() if k not in sections},
        **{k: report["date"] for k in sections},
    }
    loads = {k: v for k, v in old.get("load_averages", {}).items() if k not in sections}
    report["load_averages"], report["failed"] = loads, {}

    def measure(section, bench, *args, **kwargs):
        """Run one section and save the report at once: a later section that fails (or a
        kill) costs only its own figures. A failed section keeps its previous figures and date."""
        before = os.getloadavg()[0]
        try:
            report["results"][section] = bench(*args, **kwargs)
            loads[section] = [round(before, 2), round(os.getloadavg()[0], 2)]
        except Exception as exc:
            report["failed"][section] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            log(f"{section} failed: {report['failed'][section]}")
            if section in old_results:
                report["results"][section] = old_results[section]
                report["dates"][section] = old.get("dates", {}).get(section, old.get("date"))
            else:
                report["results"].pop(section, None)
        save(report)

    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        if "train" in sections:
            from speed_targets import bench_speed_targets  # noqa: E402

            measure("train", bench_speed_targets, data, Path(tmp))
        if "best" in sections:
            names = SEED_PRESETS if args.seeds else []
            measure("best", bench_best_and_seeds, data, Path(tmp), names)
    if "latency" in sections:
        measure("latency", bench_latency, data, model_path)
    if "eval" in sections:
        measure("eval", bench_evaluation, data, model_path)
    if "startup" in sections:
        from startup_bench import bench_startup  # noqa: E402  (benchmarks/startup_bench.py)

        measure("startup", bench_startup, ROOT, model_path)
    if "app" in sections:
        from app_bench import bench_app  # noqa: E402  (benchmarks/app_bench.py: needs Chromium)

        measure("app", bench_app, ROOT, model_path=model_path)
    if "api" in sections:
        from api_bench import bench_api  # noqa: E402  (benchmarks/api_bench.py)

        measure("api", bench_api, ROOT, model_path=model_path, data=data)
    if "explain" in sections:
        from explain_bench import bench_explain  # noqa: E402  (benchmarks/explain_bench.py)

        measure("explain", bench_explain, data, model_path)
    print(markdown(report))
    return 1 if report["failed"] else 0


def save(report: dict) -> None:
    """latest.json and latest.md, each replaced atomically."""
    from mnist_core import atomic

    report["load_average_at_end"] = os.getloadavg()[0]
    atomic.write_text(RESULTS / "latest.json", json.dumps(report, indent=2) + "\n")
    atomic.write_text(RESULTS / "latest.md", markdown(report))


if __name__ == "__main__":
    sys.exit(main())
