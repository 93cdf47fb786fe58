"""The command line: `python -m mnist_core {fetch,train,spec,list,evaluate,robustness,predict,read,explain,export}`.

Expected faults (bad files, bad values, unknown names) print one line on stderr and exit
with status 2; nothing else is caught, so a real bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import runs
from .errors import InputError, StudioError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


class ProgressBar:
    """A one-line terminal progress bar on stderr: `[#####-----] 52% 3.1 s left`."""

    def __init__(self, stream=None, width: int = 30):
        self._stream, self.width, self.last = stream, width, 0.0

    @property
    def stream(self):  # sys.stderr as it is when drawing (see mnist_core/quiet.py)
        return self._stream or sys.stderr

    def show(self, fraction: float, text: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction:4.0%} {text}\x1b[K")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _download_progress(bar: ProgressBar):
    def progress(done: int, total: int) -> None:
        mb = done / 1e6
        bar.show(done / total if total else 0.0, f"{mb:.1f} MB", force=done == total)

    return progress


# --------------------------------------------------------------------------- commands


def cmd_fetch(args: argparse.Namespace) -> int:
    from .data import load_mnist

    bar = ProgressBar()
    data = load_mnist(progress=_download_progress(bar), log=_log)
    print(
        f"MNIST ready: {len(data.x_train)} training and {len(data.x_test)} test images "
        f"from {data.source}",
        file=args.results,
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import TrainConfig

    if args.run_dir is None and args.preset is None and args.spec is None:
        raise InputError(
            "say what to train: --preset NAME, --spec FILE.json (or --run-dir DIR of a queued run)"
        )
    if args.preset is not None and args.spec is not None:
        raise InputError("give --preset or --spec, not both")
    if args.run_dir is None:  # bad values are reported before TensorFlow is loaded
        config = TrainConfig(
            args.preset,
            spec=_read_spec(args.spec) if args.spec else None,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            seed=args.seed,
            val_fraction=args.val_fraction,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
        )
        config.resolve()
        if args.run_id is not None:
            runs.validate_run_id(args.run_id)

    stop_flag = {"stop": False}

    def on_signal(signum, frame):  # SIGTERM / SIGINT: finish the batch, keep the best weights
        stop_flag["stop"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from .callbacks import TerminalProgress
    from .config import prepare_run
    from .data import load_mnist
    from .training import network_count, train_run

    data = load_mnist(progress=_download_progress(ProgressBar()), log=_log)
    run_dir = Path(args.run_dir) if args.run_dir else prepare_run(config, run_id=args.run_id).path
    meta = runs.read_run(run_dir).meta
    epochs = meta.params.epochs * network_count(meta) if meta.params else None  # all networks
    run = train_run(
        run_dir,
        callbacks=[TerminalProgress(verbose=2 if args.quiet else 1, epochs=epochs)],
        stop=lambda: stop_flag["stop"],
        data=data,
        log=_log,
    )
    print(run.path, file=args.results)
    return 0


def _read_spec(name: str):
    """The network spec in the JSON file `name`; InputError (one line) when it cannot be used."""
    from .specs import MAX_SPEC_CHARS, from_json

    path = Path(name)
    try:
        if not path.is_file():
            raise InputError(f"{name}: no such spec file")
        if path.stat().st_size > MAX_SPEC_CHARS * 4:
            raise InputError(f"{name}: too large for a network spec")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{name}: cannot be read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    try:
        return from_json(text)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


def cmd_spec(args: argparse.Namespace) -> int:
    """A preset's spec as JSON (to start a network of one's own from), or a spec file's costs."""
    from .presets import PRESETS, get_preset

    if args.name in PRESETS or not args.name.endswith(".json"):
        print(get_preset(args.name).spec.to_json(indent=2), file=args.results)
        return 0
    spec = _read_spec(args.name)
    costs = spec.costs()
    for cost in costs:
        shape = "x".join(map(str, cost.shape))
        print(
            f"{cost.name:18} {cost.kind:24} {shape:>10} {cost.params:>11,} params",
            file=args.results,
        )
    params, madds = sum(c.params for c in costs), sum(c.madds for c in costs)
    line = f"{params:,} parameters, {madds:,} multiply-adds per image"
    if spec.members > 1:  # the layers above are each network's; the model averages them
        n = spec.members
        line = (
            f"{n * params:,} parameters, {n * madds:,} multiply-adds per image in all: "
            f"{n} networks of these layers, their answers averaged"
        )
    print(line, file=args.results)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    all_runs = runs.list_runs()
    if args.json:
        for run in all_runs:
            print(
                json.dumps(
                    {
                        "run_id": run.id,
                        "preset": run.preset,
                        "status": run.status,
                        "test_accuracy": run.test_accuracy,
                        "train_seconds": run.meta.train_seconds,
                        "started_at": run.meta.started_at,
                        "error": run.error,
                    }
                ),
                file=args.results,
            )
        return 0
    if not all_runs:
        print(
            "No runs yet. Train one with: python -m mnist_core train --preset fast-cnn",
            file=args.results,
        )
        return 0
    print(
        f"{'RUN':42} {'PRESET':22} {'STATUS':12} {'TEST ACC':>8} {'SECONDS':>8}", file=args.results
    )
    for run in all_runs:
        acc = run.test_accuracy
        secs = run.meta.train_seconds
        print(
            f"{run.id:42} {run.preset:22} {run.status:12} "
            f"{f'{acc:.2%}' if acc is not None else '-':>8} "
            f"{f'{secs:.1f}' if secs is not None else '-':>8}",
            file=args.results,
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_mnist
    from .evaluation import score
    from .inference import Predictor

    model_path = runs.resolve_model_path(args.model)
    predictor = Predictor.from_path(model_path)  # the run's model.tflite: no TensorFlow
    data = load_mnist(log=_log if not args.json else None)
    start = time.perf_counter()
    result = score(predictor, data.x_test, data.y_test)
    seconds = time.perf_counter() - start
    if args.json:
        print(
            json.dumps(
                {"model": str(model_path), "seconds": round(seconds, 3), **result.to_dict()}
            ),
            file=args.results,
        )
        return 0
    print(f"Model: {model_path}", file=args.results)
    print(
        f"Accuracy {result.accuracy:.4%}, macro F1 {result.macro_f1:.4f} "
        f"on {result.n} test images ({seconds:.2f} s)",
        file=args.results,
    )
    print(
        result.per_class_table().to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        file=args.results,
    )
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from .corruptions import CORRUPTIONS
    from .robustness import for_model

    model_path = runs.resolve_model_path(args.model)
    if args.images is not None and not 1 <= args.images <= 10_000:
        raise InputError(f"--images must be between 1 and 10000, got {args.images}")
    bar = ProgressBar()
    result = for_model(model_path, progress=bar.show, images=args.images)
    if bar.last:
        bar.done()
    if args.json:
        figures = result.to_json()
        for scores in (figures["clean"], *figures["corrupted"].values()):
            for score in scores.values():
                del score["wrong"]  # the first few indices: for the page's gallery
        print(json.dumps({"model": str(model_path), **figures}), file=args.results)
        return 0
    print(f"Model: {model_path}, the first {result.images} test images", file=args.results)
    print(f"{'':16} {'as the app reads it':>20} {'the network alone':>18}", file=args.results)
    rows = [("As they are", result.clean)]
    rows += [(c.title, result.corrupted[name]) for name, c in CORRUPTIONS.items()]
    for title, scores in rows:
        app, model = scores["app"].accuracy, scores["model"].accuracy
        print(f"{title:16} {app:>20.2%} {model:>18.2%}", file=args.results)
    print(
        f"{'Mean, corrupted':16} {result.mean('app'):>20.2%} {result.mean('model'):>18.2%}",
        file=args.results,
    )
    return 0


def _predictor(args: argparse.Namespace):
    """The Predictor of the model `--model` names (the shipped one by default), with the
    temperature its run recorded."""
    from .inference import Predictor

    return Predictor.from_path(runs.resolve_model_path(args.model))


def _each_image(args: argparse.Namespace, read, failed: list[str]) -> Iterator[tuple]:
    """(file name, read(picture)) for each of `args.images` in order. A file that cannot be
    read (not a picture, missing, a folder...) is reported in one line on stderr, and under
    --json as a line with its `error`, then added to `failed` and skipped."""
    from .images import load_image

    for name in args.images:
        try:
            result = read(load_image(name))
        except InputError as exc:
            failed.append(name)
            _log(f"{name}: {exc}")
            if args.json:
                print(
                    json.dumps(
                        {"file": name, "digit": None, "confidence": None, "error": str(exc)}
                    ),
                    file=args.results,
                )
            continue
        yield name, result


def _predictions(args: argparse.Namespace, predictor, failed: list[str]) -> Iterator[tuple]:
    """(file name, inference.Prediction) for each of `args.images` read and classified."""
    from .inference import predict_image

    return _each_image(args, lambda picture: predict_image(predictor, picture), failed)


def cmd_predict(args: argparse.Namespace) -> int:
    failed: list[str] = []
    for name, prediction in _predictions(args, _predictor(args), failed):
        if args.json:
            probs = prediction.probabilities
            print(
                json.dumps(
                    {
                        "file": name,
                        "digit": prediction.digit,  # the best guess, even when not a digit
                        "confidence": prediction.confidence,
                        "is_digit": prediction.is_digit,
                        "not_digit_score": None
                        if prediction.not_digit_score is None
                        else round(prediction.not_digit_score, 6),
                        "probabilities": None
                        if probs is None
                        else [round(float(p), 6) for p in probs],
                    }
                ),
                file=args.results,
            )
        elif prediction.digit is None:
            print(f"{name}: no digit found", file=args.results)
        elif prediction.is_digit is False:
            print(
                f"{name}: not a digit (the model's best guess would be {prediction.digit})",
                file=args.results,
            )
        else:
            print(f"{name}: {prediction.digit} ({prediction.confidence:.1%})", file=args.results)
    return 1 if failed else 0


def _digit_json(d) -> dict:
    return {
        "digit": d.digit,  # the best guess, even when not a digit
        "confidence": round(d.confidence, 6),
        "is_digit": d.is_digit,
        "not_digit_score": round(d.not_digit_score, 6),
        "box": list(d.box),  # x0, y0, x1, y1 in the picture's pixels, x1 and y1 excluded
        "cut": d.cut,
        "probabilities": [round(float(p), 6) for p in d.probabilities],
    }


def cmd_read(args: argparse.Namespace) -> int:
    from .numbers import read_number

    predictor = _predictor(args)
    failed: list[str] = []
    for name, number in _each_image(args, lambda p: read_number(predictor, p), failed):
        if args.json:
            answer = {
                "file": name,
                "number": number.text or None,
                "confidence": None if number.confidence is None else round(number.confidence, 6),
                "is_number": number.found and all(d.is_digit for d in number.digits),
                "digits": [_digit_json(d) for d in number.digits],
            }
            print(json.dumps(answer), file=args.results)
            continue
        if not number.found:
            print(f"{name}: no digits found", file=args.results)
            continue
        print(
            f"{name}: {number.text} ({number.confidence:.1%} sure of every digit)",
            file=args.results,
        )
        for i, d in enumerate(number.digits, 1):
            x0, y0, x1, y1 = d.box
            verdict = f"{d.confidence:.1%}" if d.is_digit else "not a digit, best guess"
            cut = ", cut from a touching neighbour" if d.cut else ""
            print(
                f"  {i}. {d.digit}  {verdict}  at x {x0}-{x1}, y {y0}-{y1}{cut}", file=args.results
            )
    return 1 if failed else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import DEFAULT_METHOD, IG_STEPS, METHOD_NAMES, Explainer, check_steps
    from .inference import load_model

    predictor = _predictor(args)
    explainer = Explainer(load_model(runs.resolve_model_path(args.model)))  # gradients: Keras
    method = explainer.check_method(args.method or DEFAULT_METHOD)
    steps = check_steps(IG_STEPS if args.steps is None else args.steps)
    failed: list[str] = []
    for name, prediction in _predictions(args, predictor, failed):
        target = prediction.digit if args.target is None else args.target
        saliency = None
        if prediction.found:
            saliency = explainer.saliency(prediction.input_image, target, method, steps)
        if args.json:
            print(
                json.dumps(
                    {
                        "file": name,
                        "digit": prediction.digit,
                        "confidence": prediction.confidence,
                        "is_digit": prediction.is_digit,
                        "method": method,
                        "target": target,
                        "input": _numbers(prediction.input_image),
                        "saliency": _numbers(saliency),
                    }
                ),
                file=args.results,
            )
        elif not prediction.found:
            print(f"{name}: no digit found", file=args.results)
        else:
            read = (
                f"{prediction.digit} ({prediction.confidence:.1%})"
                if prediction.is_digit
                else f"not a digit (the model's best guess would be {prediction.digit})"
            )
            print(
                f"{name}: {read}\n"
                f"{METHOD_NAMES[method]}, evidence for {target}: # strong, . weak, - against",
                file=args.results,
            )
            print("\n".join(heat_map(saliency)), file=args.results)
    return 1 if failed else 0


def _numbers(image) -> list[list[float]] | None:
    """A float32 (28, 28) array as rows of JSON numbers, each the shortest decimal that reads
    back as the same float32 (so the model sees exactly these values); None stays None."""
    if image is None:
        return None
    return [[float(str(value)) for value in row] for row in image.astype("float32")]


HEAT_MARKS = " .:+#"  # a 2x2 block's evidence for the digit, from none to the most


def heat_map(saliency) -> list[str]:
    """A saliency map (float (28, 28)) as 14 lines of text, one character pair per 2x2 block
    (pairs keep the picture square in a terminal): HEAT_MARKS for evidence for the digit,
    scaled to the strongest block, "-" for evidence against it of at least a fifth of that."""
    blocks = saliency.reshape(14, 2, 14, 2).sum(axis=(1, 3))
    strongest = float(abs(blocks).max()) or 1.0
    lines = []
    for row in blocks / strongest:
        marks = [
            HEAT_MARKS[min(int(v * len(HEAT_MARKS)), len(HEAT_MARKS) - 1)]
            if v >= 0
            else ("-" if v <= -0.2 else " ")
            for v in row
        ]
        lines.append("|" + "".join(mark * 2 for mark in marks) + "|")
    return lines


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run

    out = export_run(args.run, Path(args.out) if args.out else None, log=_log)
    print(out, file=args.results)
    return 0


# --------------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    from .presets import PRESETS

    parser = _Parser(prog="python -m mnist_core", description="MNIST Studio from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("fetch", help="download and verify MNIST (prints the source used)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("train", help="train a preset or a network spec; prints the run directory")
    p.add_argument("--preset", help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--spec", metavar="FILE.json", help="a network spec (see: spec PRESET)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--val-fraction", type=float, help="share of training images held out")
    p.add_argument("--train-limit", type=int, help="train on the first N images only")
    p.add_argument(
        "--test-limit",
        type=int,
        help="score on the first N test images only (for tests: every figure the app shows is on all 10,000)",
    )
    p.add_argument("--run-id", help="name of the run directory (default: time-preset-random)")
    p.add_argument(
        "--run-dir", help="train the queued run in this directory (what the app's worker does)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, one line per epoch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("spec", help="print a preset's network spec, or check a spec file")
    p.add_argument("name", metavar="PRESET|FILE.json", help=f"one of: {', '.join(PRESETS)}")
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("list", help="list runs with status and test accuracy")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("evaluate", help="metrics of a model on the 10,000 test images")
    p.add_argument("--model", help="run id, run directory or .keras file (default: shipped model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "robustness", help="accuracy on the test set under corruptions (rotation, noise, ...)"
    )
    p.add_argument("--model", help="run id, run directory or .keras file (default: shipped model)")
    p.add_argument("--images", type=int, help="only the first N test images (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("predict", help="classify image files")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", help="run id, run directory or .keras file (default: shipped model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("read", help="read whole numbers: split each image into digits")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", help="run id, run directory or .keras file (default: shipped model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("explain", help="why the model read each image so: a saliency map")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", help="run id, run directory or .keras file (default: shipped model)")
    p.add_argument(
        "--method",
        help="integrated-gradients (default), grad-cam (networks with a convolution), occlusion",
    )
    p.add_argument(
        "--target",
        type=int,
        choices=range(10),
        metavar="DIGIT",
        help="explain the evidence for this digit (default: the digit read)",
    )
    p.add_argument(
        "--steps", type=int, help="integrated gradients' path points (more: truer sums, slower)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: file, digit, confidence, method, target, input and "
        "saliency (28x28 rows; larger = more evidence for the target)",
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("export", help="export a run as a TensorFlow SavedModel and a .tflite file")
    p.add_argument("run", help="run id or run directory")
    p.add_argument("--out", help="output directory (default: exports/<run-id>)")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines off
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed in one line
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    from .quiet import quiet_command

    try:
        # TensorFlow's native start-up chatter hidden; results (args.results) alone on stdout.
        with quiet_command() as args.results:
            return args.func(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `mnist-studio` console script (installed by `make`, or `pip install -e .`)."""
    sys.exit(main())
