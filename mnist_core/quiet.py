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

`results_stream()` is the other half: a command writes its results to the stream it yields
(stdout), and anything a library prints on `sys.stdout` meanwhile goes to stderr, so that
`... --json | jq` holds even when Keras announces a download.

Limits, by design:
  * Both are process-wide (descriptors and `sys.stdout` are global): they are for the CLI,
    one command per process, not for the threads of the Streamlit server.
  * A stream object made earlier that writes to descriptor 2 itself (a `stream=sys.stderr`
    default argument, a logging handler made at start-up) is caught along with the chatter:
    look `sys.stderr` up when writing, as the CLI's progress bars do.
  * A native crash (abort, segfault) ends the process before any replay. Set
    MNIST_STUDIO_NATIVE_LOGS=1 to let native output through when chasing one.
  * Where descriptor 1 or 2 is not open, `native_output_hidden()` does nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
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


_filtering = threading.Lock()


@contextlib.contextmanager
def native_lines_dropped(*starts: bytes) -> Iterator[None]:
    """While the block runs, hold back what reaches descriptor 2; at its end write it out
    less the lines that begin with one of `starts` (LiteRT's "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU.", written once per process by its first interpreter).

    Unlike `native_output_hidden`, this one is for servers too: nothing else is lost (what
    other threads write meanwhile comes out at the end of the block, in order) and Python's
    streams are left alone; keep the block short (the creation of an interpreter, ms).
    MNIST_STUDIO_NATIVE_LOGS=1 lets everything through; without descriptor 2 it does nothing.
    """
    if os.environ.get(NATIVE_LOGS_ENV, "").strip() not in ("", "0") or not _is_open(2):
        yield
        return
    with _filtering, tempfile.TemporaryFile() as held:
        _flush(sys.stderr)
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _flush(sys.stderr)
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(True) if not line.startswith(starts)]
            if kept:
                os.write(2, b"".join(kept))


@contextlib.contextmanager
def results_stream() -> Iterator[TextIO]:
    """Yield the stream a command writes its results to (stdout as it was); while the block
    runs, whatever else reaches `sys.stdout` (Keras' "Downloading data from ...", a library's
    print) goes to stderr instead, so stdout holds results only and `... --json | jq` holds."""
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        yield out


@contextlib.contextmanager
def quiet_command() -> Iterator[TextIO]:
    """How a CLI command runs: native chatter hidden, stdout for results only (yielded)."""
    with native_output_hidden(), results_stream() as out:
        yield out
