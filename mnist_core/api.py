"""The REST API's logic, wire-compatible with TensorFlow Serving's REST API (no Streamlit here).

    GET  /v1/models/{run}[/versions/1]            model status (TF Serving's GetModelStatus)
    GET  /v1/models/{run}[/versions/1]/metadata   the signature (GetModelMetadata)
    POST /v1/models/{run}[/versions/1]:predict    {"instances": [...]} -> {"predictions": ...}
                                                  {"inputs": ...}      -> {"outputs": ...}
    POST /api/read?model=RUN                      a picture -> {"digit", "confidence", ...}

`handle(request)` takes a request as a dict (method, path, query, body, optionally the
picture already taken out of a multipart form) and returns (status, response dict); it
never raises. Every error is `{"error": "..."}` with a 4xx status: 400 bad JSON, shape or
picture, 404 unknown or unusable run, 405 wrong method, 413 too many instances. The server's
side (reading the body under a cap, rate limits, logging) is api_routes.py's.

`{run}` is a run id (`runs.validate_run_id`: no path traversal); `default` is the shipped
model. Runs are refused as the pages refuse them: unreadable, linked, still training or
without a model are 404 with the reason. Inputs are float32 in [0, 1], each instance
(28, 28, 1) or (28, 28): already preprocessed, as TF Serving would get them; /api/read does
the preprocessing (`inference.predict_image`, the Draw page's path).

Models are loaded once per process by `MODELS` (keyed by model file and its mtime), which
the pages use too (pages/shared.py).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import runs
from .errors import InputError, ModelError, StudioError

_log = logging.getLogger(__name__)

MAX_INSTANCES = 1024  # images per :predict request
# A JSON body: 1,024 images of 784 floats written as text ("0.123456789, ") is about 11 MB;
# 16 MB leaves room for longer numbers and whitespace.
MAX_JSON_BYTES = 16 * 1024 * 1024
VERSION = "1"  # each run has one version
SIGNATURE = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
MODELS_KEPT = 16  # models held in memory at once (the pages' cache held as many)

Response = tuple[int, dict[str, Any]]


class ApiError(Exception):
    """An answer other than 200: status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())


# --------------------------------------------------------------------------- models


class ModelCache:
    """Predictors by (model file, mtime), loaded once per process, shared by every thread.

    Concurrent first requests for one model wait for a single load; another model's load
    does not wait. At most `kept` models are held; the least recently used goes first.
    `cache(path_text, mtime)` is the lookup (pages/shared.py's `_predictor`).
    """

    def __init__(self, kept: int = MODELS_KEPT):
        self.kept = kept
        self._loaded: OrderedDict[tuple[str, float], Any] = OrderedDict()
        self._loading: dict[tuple[str, float], threading.Lock] = {}
        self._lock = threading.Lock()

    def __call__(self, model_path: str, mtime: float):
        key = (str(model_path), float(mtime))
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            from . import digit_check, inference  # LiteRT, not TensorFlow (inference.py)

            predictor = inference.Predictor.from_path(key[0])  # with its run's temperature
            digit_check.detector()  # loaded here too, not in the first reading's time
            with self._lock:
                self._loaded[key] = predictor
                self._loaded.move_to_end(key)
                while len(self._loaded) > self.kept:
                    self._loaded.popitem(last=False)
                self._loading.pop(key, None)
            return predictor

    def get(self, model_path: Path):
        """The Predictor for a model file, as it is now on disk."""
        return self(str(model_path), model_path.stat().st_mtime)

    def holds(self, model_path: Path) -> bool:
        """Whether the file's current version is loaded already."""
        try:
            key = (str(model_path), float(model_path.stat().st_mtime))
        except OSError:
            return False
        with self._lock:
            return key in self._loaded

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()


MODELS = ModelCache()


def model_path_of(run_id: Any) -> Path:
    """The model file of run `run_id`, refused (ApiError 404, with the reason) as the pages
    refuse it: an invalid name, no such run, unreadable or linked, still training, no model."""
    try:
        runs.validate_run_id(run_id)
    except InputError as exc:
        raise ApiError(404, f"No model called {str(run_id)[:100]!r}: {exc}") from None
    try:
        run = runs.get_run(run_id)
    except ModelError:
        raise ApiError(404, f"No model called {run_id!r}.") from None
    if run.status in runs.ACTIVE:  # (an unreadable run reads "invalid", never active)
        raise ApiError(404, f"Run {run_id!r} is still training ({run.status}).")
    try:
        return runs.model_file(run)
    except ModelError as exc:
        raise ApiError(404, str(exc)) from None


def predictor_of(run_id: Any):
    path = model_path_of(run_id)
    try:
        return MODELS.get(path)
    except (ModelError, OSError) as exc:
        raise ApiError(404, f"Run {run_id!r} cannot be used: {exc}") from None


# --------------------------------------------------------------------------- TF Serving


def model_status(run_id: str) -> dict[str, Any]:
    model_path_of(run_id)
    return {
        "model_version_status": [
            {
                "version": VERSION,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def _tensor_info(name: str, dims: tuple[int, ...]) -> dict[str, Any]:
    return {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": str(size), "name": ""} for size in dims],
            "unknown_rank": False,
        },
        "name": name,
    }


def model_metadata(run_id: str) -> dict[str, Any]:
    model_path_of(run_id)
    return {
        "model_spec": {"name": run_id, "signature_name": "", "version": VERSION},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    SIGNATURE: {
                        "inputs": {
                            INPUT_NAME: _tensor_info(
                                f"serving_default_{INPUT_NAME}:0", (-1, 28, 28, 1)
                            )
                        },
                        "outputs": {
                            OUTPUT_NAME: _tensor_info("StatefulPartitionedCall:0", (-1, 10))
                        },
                        "method_name": "tensorflow/serving/predict",
                        "defaults": {},
                    }
                }
            }
        },
    }


def _images(value: Any, what: str) -> np.ndarray:
    """float32 (N, 28, 28, 1) in [0, 1] from a list of instances, or ApiError 400."""
    try:
        x = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(
            400, f"{what} must be numbers in nested lists of equal lengths (28x28 per image)."
        ) from None
    if x.ndim == 4 and x.shape[1:] == (28, 28, 1):
        pass
    elif x.ndim == 3 and x.shape[1:] == (28, 28):
        x = x[..., np.newaxis]
    else:
        raise ApiError(
            400,
            f"{what} have shape {tuple(int(d) for d in x.shape)}; each image must be "
            "(28, 28, 1) or (28, 28), i.e. (-1, 28, 28, 1) in all.",
        )
    if not np.isfinite(x).all():
        raise ApiError(400, f"{what} hold NaN or infinite values.")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ApiError(400, f"{what} must lie in [0, 1] (preprocessed MNIST images).")
    return x


def _named(value: Any, what: str) -> Any:
    """TF Serving's named-input form {"image": tensor} or the bare tensor."""
    if isinstance(value, dict):
        if set(value) != {INPUT_NAME}:
            raise ApiError(
                400, f"{what} must name the one input {INPUT_NAME!r}, got {sorted(value)}."
            )
        return value[INPUT_NAME]
    return value


def predict(run_id: str, body: bytes) -> dict[str, Any]:
    """TF Serving's :predict on `body` (JSON), row or columnar."""
    if len(body) > MAX_JSON_BYTES:
        raise ApiError(413, f"Request body over {MAX_JSON_BYTES // (1024 * 1024)} MB.")
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"The body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(request, dict):
        raise ApiError(
            400, 'The body must be a JSON object: {"instances": [...]} or {"inputs": ...}.'
        )
    signature = request.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise ApiError(400, f"Unknown signature_name {str(signature)[:100]!r}: only {SIGNATURE!r}.")
    unknown = set(request) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise ApiError(400, f"Unknown keys {sorted(unknown)[:5]}: use 'instances' or 'inputs'.")
    if ("instances" in request) == ("inputs" in request):
        raise ApiError(400, "Give exactly one of 'instances' (row format) or 'inputs' (columnar).")
    row = "instances" in request
    if row:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "'instances' must be a non-empty list of images.")
        if len(instances) > MAX_INSTANCES:
            raise ApiError(413, f"{len(instances)} instances; at most {MAX_INSTANCES} per request.")
        if any(isinstance(i, dict) for i in instances):
            instances = [_named(i, "Each instance") for i in instances]
        x = _images(instances, "Instances")
    else:
        inputs = _named(request["inputs"], "'inputs'")
        if isinstance(inputs, list) and len(inputs) > MAX_INSTANCES:
            raise ApiError(413, f"{len(inputs)} images; at most {MAX_INSTANCES} per request.")
        x = _images(inputs, "Inputs")
        if len(x) == 0:
            raise ApiError(400, "'inputs' holds no image.")
    predictor = predictor_of(run_id)
    probabilities = predictor.predict_one(x[0])[None] if len(x) == 1 else predictor.predict_batch(x)
    values = probabilities.astype(np.float64).tolist()
    return {"predictions": values} if row else {"outputs": values}


# --------------------------------------------------------------------------- pictures


def read_picture(run_id: str, picture: bytes) -> dict[str, Any]:
    """A picture (any format `images.load_image` reads) -> what the Draw page shows: the
    digit read, its calibrated confidence, whether the picture is a digit at all
    (`is_digit`; false for a line, a scribble, a letter...: then `digit` is only the
    model's best guess), all ten probabilities and the 28x28 input. All None: no ink."""
    from .images import load_image
    from .inference import predict_image

    if not picture:
        raise ApiError(400, "No picture: send it as the request body or a form field 'image'.")
    predictor = predictor_of(run_id)
    try:
        prediction = predict_image(predictor, load_image(picture))
    except InputError as exc:
        raise ApiError(400, str(exc).replace("<bytes>", "The picture")) from None
    if not prediction.found:
        return {
            "digit": None,
            "confidence": None,
            "is_digit": None,
            "not_digit_score": None,
            "probabilities": None,
            "input": None,
        }
    return {
        "digit": prediction.digit,  # the best guess, even when is_digit is false
        "confidence": float(prediction.confidence),
        "is_digit": bool(prediction.is_digit),
        "not_digit_score": round(float(prediction.not_digit_score), 6),
        "probabilities": prediction.probabilities.astype(np.float64).tolist(),
        "input": np.round(prediction.input_image.astype(np.float64), 4).tolist(),
    }


# --------------------------------------------------------------------------- routing

_MODEL_ADDRESS = re.compile(
    r"^/v1/models/(?P<run>[^/:]*)(?:/versions/(?P<version>[^/:]*))?(?P<verb>/metadata|:predict)?$"
)


def _route(method: str, path: str, query: dict[str, str]) -> tuple[str, Callable[..., Any], tuple]:
    """(allowed method, function, its leading arguments) for an address, or ApiError 404."""
    if path.rstrip("/") == "/api/read":
        return "POST", read_picture, (query.get("model") or runs.DEFAULT_RUN_ID,)
    found = _MODEL_ADDRESS.match(path)
    if found is None:
        raise ApiError(404, f"No such address: {path[:200]}")
    if found["version"] is not None and found["version"] != VERSION:
        raise ApiError(
            404,
            f"Model {found['run'][:100]!r} has no version {found['version'][:20]!r}; only {VERSION}.",
        )
    verb = found["verb"]
    if verb == ":predict":
        return "POST", predict, (found["run"],)
    return "GET", model_metadata if verb == "/metadata" else model_status, (found["run"],)


def handle(request: dict[str, Any]) -> Response:
    """Answer one request: {"method", "path", "query" (dict), "body" (bytes), "picture"
    (bytes from a multipart form, optional)} -> (status, response dict). Never raises."""
    method = str(request.get("method", "GET")).upper()
    path = str(request.get("path", ""))
    try:
        allowed, function, args = _route(method, path, request.get("query") or {})
        if method != allowed and not (method == "HEAD" and allowed == "GET"):
            raise ApiError(405, f"{method} is not allowed here; use {allowed}.")
        if function is predict:
            return 200, predict(*args, request.get("body") or b"")
        if function is read_picture:
            picture = request.get("picture")
            return 200, read_picture(
                *args, request.get("body", b"") if picture is None else picture
            )
        return 200, function(*args)
    except ApiError as exc:
        return exc.status, {"error": exc.message}
    except StudioError as exc:  # an expected fault the checks above did not name
        return 400, {"error": " ".join(str(exc).split())}
    except Exception as exc:  # a bug: logged with its traceback, answered in one line
        _log.exception("API request %s %s failed", method, path[:200])
        return 400, {"error": f"The request could not be served ({type(exc).__name__})."}


def model_ready(path: str, query: dict[str, str] | None = None) -> bool:
    """Whether answering this address loads no model: its run's model is held by `MODELS`
    already, or the address or the run is refused before any model is needed. (The server
    answers such requests on its event loop; a model load, seconds, goes to a thread.)"""
    try:
        run_id = _route("GET", path, query or {})[2][0]
        return MODELS.holds(model_path_of(run_id))
    except ApiError:
        return True


def allowed_method(path: str) -> str | None:
    """The method an address takes (for an Allow header), or None for no such address."""
    try:
        return _route("GET", path, {})[0]
    except ApiError:
        return None
