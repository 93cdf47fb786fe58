"""A quiet command line: native libraries' chatter kept off the terminal, stdout kept for results.

Why this exists. TensorFlow's C++ code writes notices straight to file descriptor 2 when it
is imported and when it builds a TF Lite interpreter, before any command output:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. ...
    INFO: Created TensorFlow Lite XNNPACK delegate for CPU.

They never pass through Python (so swapping `sys.stderr` misses them) and ignore
TF_CPP_MIN_LOG_LEVEL (absl writes them before TensorFlow reads it). They can only be caught
at the descriptor, which `native_output_hidden()` does for the length of one command:

  * descriptors 1 and 2 are pointed at an unnamed temporary file, where native writes land;
  * `sys.stdout` and `sys.stderr` are reopened on duplicates of the original descriptors,
    so everything Python prints (results, progress, one-line errors) still gets out.

On the way out everything is put back. The caught text is thrown away when the block ends
normally or with an expected fault (a StudioError), and written to the real stderr when it
ends with any other exception (a bug), ahead of the traceback, so a bug hides nothing.

`json_only_stdout()` is the other half, for `--json`: of what is written to `sys.stdout`,
each line that is a JSON object or array goes to stdout and anything else (Keras'
"Downloading data from ...", a stray progress bar) to stderr, so `... --json | jq` holds
even when a library prints.

Limits, by design:
  * Both are process-wide (descriptors and `sys.stdout` are global): they are for the CLI,
    one command per process, not for the threads of the Streamlit server.
  * A stream object made earlier that writes to descriptor 2 itself (a `stream=sys.stderr`
    default argument, a logging handler made at start-up) is caught along with the chatter.
    This is why the CLI runs `fetch` and `train`, whose progress bars hold such a stream,
    without it.
  * A native crash (abort, segfault) ends the process before any replay. Set
    MNIST_STUDIO_NATIVE_LOGS=1 to let native output through when chasing one.
  * Where descriptor 1 or 2 is not open, `native_output_hidden()` does nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from .errors import StudioError

NATIVE_LOGS_ENV = "MNIST_STUDIO_NATIVE_LOGS"  # "1": let native output through (debugging)
_STREAMS = (("stdout", 1), ("stderr", 2))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _writes_to(stream: object, fd: int) -> bool:
    """Whether `stream` writes to descriptor `fd` itself (not so for pytest's capsys, StringIO)."""
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False


def _flush(stream: object) -> None:
    try:
        stream.flush()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        pass  # a closed or odd stream: nothing of ours is buffered in it


def _reopen(stream: TextIO, fd: int) -> TextIO:
    """A text stream writing to a duplicate of `fd`, encoded and buffered as `stream` was."""
    return io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(os.dup(fd), "w")),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=getattr(stream, "write_through", False),
    )


@contextlib.contextmanager
def native_output_hidden() -> Iterator[None]:
    """Catch what is written to descriptors 1 and 2 below Python while the block runs
    (see the module docstring); replay it on stderr only if the block raises a bug."""
    if os.environ.get(NATIVE_LOGS_ENV, "").strip() not in ("", "0") or not (
        _is_open(1) and _is_open(2)
    ):
        yield
        return
    for name, _ in _STREAMS:
        _flush(getattr(sys, name))  # what Python holds in buffers goes out first, in order
    saved: dict[int, int] = {}  # descriptor -> a copy of what it was
    swapped: dict[str, tuple[TextIO, TextIO]] = {}  # "stdout" -> (original, replacement)
    replay = False
    with tempfile.TemporaryFile() as capture:
        try:
            for name, fd in _STREAMS:
                saved[fd] = os.dup(fd)
                original = getattr(sys, name)
                if _writes_to(original, fd):
                    swapped[name] = (original, _reopen(original, saved[fd]))
                    setattr(sys, name, swapped[name][1])
            for fd in saved:
                os.dup2(capture.fileno(), fd)
            try:
                yield
            except StudioError:
                raise
            except Exception:
                replay = True
                raise
        finally:
            for name, (original, replacement) in swapped.items():
                _flush(replacement)
                setattr(sys, name, original)
                replacement.close()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            if replay:  # a bug: what the native code said may explain it
                capture.seek(0)
                text = capture.read()
                if text:
                    _flush(sys.stderr)
                    with open(os.dup(2), "wb") as stderr:
                        stderr.write(text)


def _may_be_json(start: str) -> bool:
    """Whether a line beginning with `start` may be a JSON object or array as json.dumps
    writes it (a progress bar's "\\r[####" or "[###" may not)."""
    if start[:1] == "{":
        return True
    return start[:1] == "[" and (len(start) == 1 or start[1] in ' "{[]-0123456789tfn\n')


class _JsonLines(io.TextIOBase):
    """A text stream sending each line that is a JSON object or array to `json_out`, and
    everything else to `other` (at once, as soon as a line cannot be JSON)."""

    def __init__(self, json_out: TextIO, other: TextIO):
        super().__init__()
        self._json_out, self._other = json_out, other
        self._pending = ""  # the start of a line that may still turn out to be JSON
        self._to_other = False  # the current line is known not to be JSON

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._json_out, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        rest = text
        while rest:
            end = rest.find("\n") + 1 or len(rest)
            chunk, rest = rest[:end], rest[end:]
            if self._to_other:
                self._other.write(chunk)
            else:
                self._pending += chunk
                if not _may_be_json(self._pending):
                    self._other.write(self._pending)
                    self._pending, self._to_other = "", True
                elif chunk.endswith("\n"):
                    self._route_pending()
            if chunk.endswith("\n"):
                self._to_other = False
        return len(text)

    def _route_pending(self) -> None:
        line, self._pending = self._pending, ""
        try:
            is_json = isinstance(json.loads(line), (dict, list))
        except ValueError:
            is_json = False
        (self._json_out if is_json else self._other).write(line)

    def flush(self) -> None:
        _flush(self._json_out)
        _flush(self._other)

    def close(self) -> None:
        if not self.closed:
            if self._pending:
                self._route_pending()
            self.flush()
        super().close()


@contextlib.contextmanager
def json_only_stdout() -> Iterator[None]:
    """While the block runs, only JSON lines reach stdout; other text goes to stderr."""
    original = sys.stdout
    lines = _JsonLines(original, sys.stderr)
    sys.stdout = lines
    try:
        yield
    finally:
        sys.stdout = original
        lines.close()


@contextlib.contextmanager
def quiet_command(json_only: bool = False) -> Iterator[None]:
    """How a CLI command runs: native chatter hidden and, for `--json`, only JSON on stdout."""
    with native_output_hidden():
        if json_only:
            with json_only_stdout():
                yield
        else:
            yield
