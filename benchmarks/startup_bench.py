"""Cold start: `predict` on one picture in a fresh process, against a bare `import tensorflow`.

`bench_startup(root, model_path)` runs, in turns (so that a burst of load on the shared
machine hits both alike), `ROUNDS` times each:

    predict            python -m mnist_core predict --model RUN picture.png  (the run's
                       model.tflite on LiteRT: what a user's first command costs)
    import_tensorflow  python -c "import tensorflow"  (the reference: what every prediction
                       cost before, and more, as it also converted the model each time)

and returns, for each, the wall-clock seconds {median, all} and the peak memory of the
process (ru_maxrss, MB, median; both taken by a small launcher process), then `ratio` = predict's median / import_tensorflow's
median (the target: ≤ 0.5), `predict_stderr` (what predict wrote on stderr: the target is
nothing, no TensorFlow or LiteRT notice) and `predict_imports_tensorflow` (from
`-X importtime`). The run's model.tflite is made before the rounds if it is missing.

No assertions: figures only. `python benchmarks/startup_bench.py [RUN_DIR]` prints them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROUNDS = 7


# Each command runs under this small launcher, which times it and reads its peak memory:
# a child forked straight from the benchmark process (TensorFlow and MNIST loaded) would
# count that process's pages in its own ru_maxrss until it execs.
_LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "code": code}))
"""


def _timed(command: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(seconds, peak memory in MB, stderr) of one run of `command` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["code"] != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr.strip()[-300:]}")
    return figures["seconds"], figures["peak_mb"], done.stderr


def _picture(folder: Path) -> Path:
    """A 7 drawn as the Draw page's canvas would send it, as a PNG."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(canvas).line([(70, 60), (210, 60), (120, 230)], fill=255, width=18)
    path = folder / "seven.png"
    canvas.save(path)
    return path


def bench_startup(root: Path, model_path: Path, rounds: int = ROUNDS) -> dict:
    root, run_dir = Path(root), Path(model_path).parent
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user has it
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        picture = _picture(Path(tmp))
        predict = [python, "-m", "mnist_core", "predict", "--model", str(run_dir), str(picture)]
        variants = {"predict": predict, "import_tensorflow": [python, "-c", "import tensorflow"]}
        made = not (run_dir / "model.tflite").is_file()
        for command in variants.values():  # warm-up: files in the page cache, model.tflite made
            _timed(command, root, env)
        seconds = {name: [] for name in variants}
        memory = {name: [] for name in variants}
        stderr = ""
        for i in range(rounds):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                s, mb, err = _timed(variants[name], root, env)
                seconds[name].append(round(s, 3))
                memory[name].append(round(mb, 1))
                stderr = err if name == "predict" and err else stderr
        imports = subprocess.run(
            [python, "-X", "importtime", *predict[1:]],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        ).stderr
    result = {
        name: {"median": statistics.median(values), "all": values}
        for name, values in seconds.items()
    }
    result = {f"{name}_s": figures for name, figures in result.items()}
    for name, values in memory.items():
        result[f"{name}_peak_rss_mb"] = statistics.median(values)
    result["ratio"] = round(
        result["predict_s"]["median"] / result["import_tensorflow_s"]["median"], 3
    )
    result["predict_stderr"] = stderr
    result["predict_imports_tensorflow"] = any(
        line.rstrip().endswith("| tensorflow") for line in imports.splitlines()
    )
    result["made_model_tflite"] = made
    result["rounds"] = rounds
    return result


def startup_rows(s: dict) -> list[str]:
    """The section's rows in benchmarks/results/latest.md."""
    met = s["ratio"] <= 0.5
    quiet = not s["predict_stderr"] and not s["predict_imports_tensorflow"]
    return [
        f"| `predict` on one picture from a cold start (fresh process, LiteRT), median of "
        f"{s['rounds']} | {s['predict_s']['median']:.2f} s, {s['predict_peak_rss_mb']:.0f} MB peak "
        f"| bare `import tensorflow` {s['import_tensorflow_s']['median']:.2f} s, "
        f"{s['import_tensorflow_peak_rss_mb']:.0f} MB peak | {s['ratio']:.2f}× | ≤ 0.5×: "
        f"{'met' if met else 'NOT met'} |",
        f"| … its stderr; TensorFlow imported | {len(s['predict_stderr'])} characters; "
        f"{'yes' if s['predict_imports_tensorflow'] else 'no'} | - | - | nothing, no: "
        f"{'met' if quiet else 'NOT met'} |",
    ]


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "models" / "default"
    print(json.dumps(bench_startup(here, run / "model.keras"), indent=2))
