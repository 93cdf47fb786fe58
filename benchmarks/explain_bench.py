"""How faithful and how fast the explanations are (issue 12).

`bench_explain(data, model_path)` (benchmarks/run.py's explain section) returns, for the
model and the first `IMAGES` test images, each explained for the digit the model predicts:

    deletion_auc     {method: {mean, median, sem, below_ink_first}}: the deletion test's
                     area (`Explainer.deletion`: pixels set to 0, 8 at a time, in the map's
                     order; lower = more faithful)
                     for every saliency method the model allows, for "random" (a fixed-seed
                     random order per image) and for "ink-first" (`explain.ink_first`);
                     below_ink_first: the share of images on which the area is below
                     ink-first's (same image, same target)
    default_beats_ink  that share for the default method
    speed_ms         {part: {p50, p95, calls}}: explaining one input the way the view does
                     (probabilities, every saliency map, every layer's activations),
                     `SPEED_ROUNDS` rounds of `SPEED_INPUTS` inputs after `WARM_UP`; "all" is
                     the whole, the rest its parts
    speed_rounds     {p50_each, load_each, quietest_p50}: "all"'s p50 in each round, the load
                     average after it, and the lowest of those p50s
    mlp              the same faithfulness figures for seed-mlp-dropout trained 1 epoch here
                     (its training is not timed), or {"skipped": reason}

`tune_explain(data, model_path)` (`python benchmarks/explain_bench.py --tune`) compares the
settings the constants at the top of mnist_core/explain.py choose between (integrated
gradients' steps, Grad-CAM's layer, occlusion's patch and stride) on the model's own
validation images (its run.json's seed and val_fraction), never on the test images reported.
No assertions: figures only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

IMAGES = 500  # the first 500 test images: the "at least 500", fixed so runs compare
TUNE_IMAGES = 300  # validation images per setting when tuning
# Speed: rounds of the same inputs, one after another. The 2 cores are shared with other jobs
# here (three runs of one round of 50 at load average 3 to 6 gave p50 63, 90 and 129 ms), so
# the quietest round's p50 is the best estimate of what the machine itself does (as timeit's
# minimum of repeats); every round's p50 and the load average are kept beside it.
SPEED_ROUNDS = 5
SPEED_INPUTS = 20  # per round
WARM_UP = 5
RANDOM_SEED = 0


def log(message: str) -> None:
    print(f"[explain] {message}", file=sys.stderr, flush=True)


def _figures(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(v.mean()), 4),
        "median": round(float(np.median(v)), 4),
        "sem": round(float(v.std(ddof=1) / np.sqrt(len(v))), 4) if len(v) > 1 else None,
    }


def _timing(values_ms: list[float]) -> dict:
    v = np.asarray(values_ms)
    return {
        "p50": round(float(np.percentile(v, 50)), 2),
        "p95": round(float(np.percentile(v, 95)), 2),
        "calls": len(values_ms),
    }


def _deletion_figures(aucs: dict) -> dict:
    """{way: AUCs (N,)} -> {way: {mean, median, sem, below_ink_first}}."""
    ink = aucs["ink-first"]
    return {
        way: {**_figures(v), "below_ink_first": round(float((v < ink).mean()), 4)}
        for way, v in aucs.items()
    }


def _images(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28) in [0, 1], the Explainer's input."""
    return x_uint8.astype(np.float32) / 255.0


def orderings(explainer, methods, steps: int | None = None) -> dict:
    """name -> f(x, target) giving a saliency map or a pixel order for `Explainer.deletion`:
    each of `methods`, then the two baselines. Random orders come from one generator seeded
    once, so image k always gets the same order."""
    from mnist_core.explain import IG_STEPS, ink_first

    rng = np.random.default_rng(RANDOM_SEED)
    found = {
        method: (lambda x, t, m=method: explainer.saliency(x, t, m, steps=steps or IG_STEPS))
        for method in methods
    }
    found["random"] = lambda x, t: rng.permutation(28 * 28)
    found["ink-first"] = lambda x, t: ink_first(x)
    return found


def faithfulness(explainer, images: np.ndarray, ways: dict) -> tuple[dict, dict, dict]:
    """The deletion test of every way on every image, each explained for its predicted digit.
    -> ({way: AUCs (N,)}, {way: ms per map/order, p50}, {"targets": int (N,)})."""
    aucs = {name: [] for name in ways}
    times = {name: [] for name in ways}
    targets = []
    for x in images:
        target = int(explainer.probabilities(x).argmax())
        targets.append(target)
        for name, way in ways.items():
            start = time.perf_counter()
            order = way(x, target)
            times[name].append((time.perf_counter() - start) * 1000)
            aucs[name].append(explainer.deletion(x, order, target).auc)
    return (
        {k: np.asarray(v) for k, v in aucs.items()},
        {k: round(float(np.median(v[WARM_UP:] or v)), 2) for k, v in times.items()},
        {"targets": np.asarray(targets)},
    )


def explain_all(explainer, x: np.ndarray, clock: dict | None = None) -> dict:
    """Everything the view shows for one input: probabilities, every saliency map for the
    predicted digit, every layer's activations. `clock`, if given, gets each part's ms."""

    def timed(name, call):
        start = time.perf_counter()
        value = call()
        if clock is not None:
            clock.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return value

    p = timed("probabilities", lambda: explainer.probabilities(x))
    target = int(p.argmax())
    maps = {m: timed(m, lambda m=m: explainer.saliency(x, target, m)) for m in explainer.methods}
    layers = timed("activations", lambda: explainer.activations(x))
    return {"probabilities": p, "maps": maps, "activations": layers}


def speed(explainer, images: np.ndarray) -> tuple[dict, dict]:
    """-> (speed_ms, speed_rounds), as in the module's docstring."""
    for x in images[:WARM_UP]:
        explain_all(explainer, x)  # traces and allocates
    clock: dict = {}
    rounds, loads = [], []
    for _ in range(SPEED_ROUNDS):
        times = []
        for x in images[WARM_UP : WARM_UP + SPEED_INPUTS]:
            start = time.perf_counter()
            explain_all(explainer, x, clock)
            times.append((time.perf_counter() - start) * 1000)
        clock.setdefault("all", []).extend(times)
        rounds.append(round(float(np.percentile(times, 50)), 2))
        loads.append(round(os.getloadavg()[0], 2))
    every = {name: _timing(values) for name, values in clock.items()}
    return every, {"p50_each": rounds, "load_each": loads, "quietest_p50": min(rounds)}


def _mlp_faithfulness(data, images: np.ndarray) -> dict:
    """seed-mlp-dropout, 1 epoch (about 10 s, not timed): the same test for a network
    without convolutions (no Grad-CAM)."""
    from mnist_core.explain import Explainer
    from mnist_core.inference import load_model
    from mnist_core.training import TrainConfig, train

    with tempfile.TemporaryDirectory(prefix="explain-bench-") as tmp:
        log("training seed-mlp-dropout for 1 epoch (not timed)")
        run = train(TrainConfig("seed-mlp-dropout", epochs=1), models_dir=Path(tmp), data=data)
        explainer = Explainer(load_model(run.path / "model.keras"))
        accuracy = run.meta.test_accuracy
    aucs, _, _ = faithfulness(explainer, images, orderings(explainer, explainer.methods))
    return {
        "preset": "seed-mlp-dropout",
        "epochs": 1,
        "test_accuracy": accuracy,
        "deletion_auc": _deletion_figures(aucs),
    }


def bench_explain(data, model_path: Path, images: int = IMAGES, mlp: bool = True) -> dict:
    from mnist_core import explain
    from mnist_core.explain import Explainer
    from mnist_core.inference import load_model

    explainer = Explainer(load_model(model_path))
    x = _images(data.x_test[:images])
    log(f"speed: {SPEED_ROUNDS} rounds of {SPEED_INPUTS} inputs after {WARM_UP} to warm up")
    speed_ms, speed_rounds = speed(explainer, x)
    result: dict = {
        "model": str(Path(model_path).resolve().relative_to(ROOT))
        if Path(model_path).resolve().is_relative_to(ROOT)
        else str(model_path),
        "images": len(x),
        "image_set": f"the first {len(x)} test images, each for its predicted digit",
        "default_method": explain.DEFAULT_METHOD,
        "settings": {
            "ig_steps": explain.IG_STEPS,
            "occlusion_patch": explain.OCCLUSION_PATCH,
            "occlusion_stride": explain.OCCLUSION_STRIDE,
            "grad_cam_layer": explainer.cam_layer,
            "deletion_step": explain.DELETION_STEP,
        },
        "speed_ms": speed_ms,
        "speed_rounds": speed_rounds,
    }
    log(f"deletion test: {len(x)} images x {len(explainer.methods)} methods + 2 baselines")
    aucs, map_ms, extra = faithfulness(explainer, x, orderings(explainer, explainer.methods))
    result["deletion_auc"] = _deletion_figures(aucs)
    result["map_ms_p50"] = map_ms
    result["wrongly_predicted"] = int((extra["targets"] != data.y_test[: len(x)]).sum())
    result["default_beats_ink"] = result["deletion_auc"][explain.DEFAULT_METHOD]["below_ink_first"]
    if mlp:
        try:
            result["mlp"] = _mlp_faithfulness(data, x)
        except Exception as exc:  # the CNN's figures still count
            result["mlp"] = {"skipped": f"{type(exc).__name__}: {exc}"[:200]}
    return result


# --------------------------------------------------------------------------- tuning


@contextmanager
def constants(**values):
    """mnist_core.explain's module constants set to `values` for a while (the tuning's knobs:
    an Explainer reads OCCLUSION_* when it makes a map, GRAD_CAM_MIN_SIZE when it is built)."""
    from mnist_core import explain

    old = {name: getattr(explain, name) for name in values}
    for name, value in values.items():
        setattr(explain, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(explain, name, value)


def validation_images(data, model_path: Path, count: int) -> np.ndarray:
    """The first `count` images of the validation split the model was trained with (its
    run.json's seed and val_fraction): images it never learned from, and not test images."""
    from mnist_core import runs
    from mnist_core.data import split_train_val

    params = runs.read_run(Path(model_path).parent).meta.params
    if not params or not params.val_fraction:
        raise SystemExit(f"{model_path}: its run has no validation split to tune on")
    limit = params.train_limit or len(data.x_train)  # as training.train_run splits
    x_all, y_all = data.x_train[:limit], data.y_train[:limit]
    _, _, x_val, _ = split_train_val(x_all, y_all, params.val_fraction, params.seed)
    return _images(x_val[:count])


def _completeness(explainer, images: np.ndarray, steps: int) -> dict:
    """Integrated gradients' attributions should add up to p(x) - p(black): the relative
    miss, |sum - difference| / |difference|, median and 95th percentile over the images."""
    black = explainer.probabilities(np.zeros((28, 28), np.float32))
    misses = []
    for x in images:
        p = explainer.probabilities(x)
        target = int(p.argmax())
        difference = float(p[target] - black[target])
        attributions = explainer.saliency(x, target, "integrated-gradients", steps=steps)
        if abs(difference) > 1e-3:
            misses.append(abs(float(attributions.sum()) - difference) / abs(difference))
    return {"median": float(np.median(misses)), "p95": float(np.percentile(misses, 95))}


def tune_explain(data, model_path: Path, count: int = TUNE_IMAGES) -> list[dict]:
    """Deletion AUC and ms per map of each candidate setting on `count` validation images."""
    from mnist_core import explain
    from mnist_core.explain import Explainer
    from mnist_core.inference import load_model

    model = load_model(model_path)
    x = validation_images(data, model_path, count)
    rows, ink = [], []

    def add(name, explainer, ways, **extra):
        log(f"{name} on {len(x)} validation images")
        aucs, ms, _ = faithfulness(explainer, x, ways)
        ink[:] = ink or list(aucs["ink-first"])
        for way, values in aucs.items():
            label = name if len(aucs) == 1 else way
            beats = round(float((values < np.asarray(ink)).mean()), 3)
            rows.append(
                {"setting": label, **_figures(values), "beats_ink": beats, "ms_p50": ms[way]}
                | extra
            )
            log(f"  {rows[-1]}")

    explainer = Explainer(model)
    base = orderings(explainer, ())
    add("baselines", explainer, base)
    for steps in (16, 32, 64, 128):
        ways = orderings(explainer, ("integrated-gradients",), steps=steps)
        add(
            f"integrated gradients, {steps} steps",
            explainer,
            {"ig": ways["integrated-gradients"]},
            completeness_miss=_completeness(explainer, x[:100], steps),
        )
    reference = explainer.saliency(x[0], 0, "occlusion")
    current = (explain.OCCLUSION_PATCH, explain.OCCLUSION_STRIDE)
    for patch, stride in ((4, 2), (3, 1), (5, 2), (6, 3), (8, 4)):
        with constants(OCCLUSION_PATCH=patch, OCCLUSION_STRIDE=stride):
            if (patch, stride) != current and np.array_equal(
                explainer.saliency(x[0], 0, "occlusion"), reference
            ):
                raise RuntimeError("occlusion's settings did not take effect")
            ways = orderings(explainer, ("occlusion",))
            add(f"occlusion, patch {patch} stride {stride}", explainer, {"o": ways["occlusion"]})
    seen = set()
    for min_size in (1, 7, 9, 11, 13):
        with constants(GRAD_CAM_MIN_SIZE=min_size):
            cam = Explainer(model)
        if cam.cam_layer is None or cam.cam_layer in seen:
            continue
        seen.add(cam.cam_layer)
        shape = next(info.shape for info in cam.layers if info.name == cam.cam_layer)
        ways = orderings(cam, ("grad-cam",))
        add(
            f"Grad-CAM on {cam.cam_layer} {shape[0]}x{shape[1]} (min size {min_size})",
            cam,
            {"g": ways["grad-cam"]},
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="compare settings on validation")
    parser.add_argument("--images", type=int, default=None, help="how many images")
    parser.add_argument("--model", default=None, help="model (default: the shipped one)")
    args = parser.parse_args(argv)

    from mnist_core import runs
    from mnist_core.data import load_mnist

    data = load_mnist(log=log)
    model_path = runs.resolve_model_path(args.model)
    if args.tune:
        rows = tune_explain(data, model_path, args.images or TUNE_IMAGES)
        print(
            "| setting | deletion AUC mean | median | below ink-first on | ms per map, p50 "
            "| IG completeness miss, median (p95) |"
        )
        print("|---|---|---|---|---|---|")
        for row in rows:
            miss = row.get("completeness_miss")
            miss = f"{miss['median']:.1%} (p95 {miss['p95']:.1%})" if miss else "-"
            print(
                f"| {row['setting']} | {row['mean']:.3f} | {row['median']:.3f} "
                f"| {row['beats_ink']:.0%} | {row['ms_p50']:.1f} | {miss} |"
            )
    else:
        import json

        print(json.dumps(bench_explain(data, model_path, args.images or IMAGES), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
