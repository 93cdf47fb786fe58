"""mnist_core.quiet: native writes to descriptors 1 and 2 caught, Python's prints let through.

The descriptor tests run a few lines of Python in a subprocess, whose descriptors 1 and 2
are real pipes (under pytest they are pytest's own capture files); no TensorFlow is loaded.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mnist_core import quiet

ROOT = Path(__file__).resolve().parent.parent


def run_python(body: str, **env: str) -> subprocess.CompletedProcess:
    script = "import os, sys\nfrom mnist_core import quiet\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), quiet.NATIVE_LOGS_ENV: "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


NATIVE_AND_PYTHON = """
print("before")
with quiet.native_output_hidden():
    os.write(1, b"native out\\n")  # what C++ code does: write(2) by descriptor number
    os.write(2, b"native err\\n")
    print("result")
    print("progress", file=sys.stderr)
    sys.__stderr__.write("held stream\\n")  # an object made before the capture: caught too
    sys.__stderr__.flush()
print("after")
os.write(2, b"native after\\n")
"""


def test_native_writes_are_dropped_and_python_prints_get_out():
    done = run_python(NATIVE_AND_PYTHON)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "before\nresult\nafter\n"
    assert done.stderr == "progress\nnative after\n"


def test_the_switch_lets_native_output_through():
    done = run_python(NATIVE_AND_PYTHON, **{quiet.NATIVE_LOGS_ENV: "1"})
    assert done.stdout == "before\nnative out\nresult\nafter\n"
    assert done.stderr == "native err\nprogress\nheld stream\nnative after\n"


def test_a_bug_replays_the_native_text_before_its_traceback():
    done = run_python(
        """
        with quiet.native_output_hidden():
            os.write(2, b"native detail\\n")
            raise RuntimeError("a real bug")
        """
    )
    assert done.returncode == 1
    assert done.stderr.startswith("native detail\nTraceback")
    assert "RuntimeError: a real bug" in done.stderr


def test_an_expected_fault_keeps_the_native_text_hidden():
    done = run_python(
        """
        from mnist_core.errors import InputError
        try:
            with quiet.native_output_hidden():
                os.write(2, b"native detail\\n")
                raise InputError("bad picture")
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
        """
    )
    assert done.returncode == 0
    assert done.stderr == "error: bad picture\n"


def test_everything_is_put_back_and_no_descriptor_leaks():
    done = run_python(
        """
        fds = lambda: sorted(os.listdir("/proc/self/fd"))
        before = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino, fds())
        for _ in range(3):
            with quiet.quiet_command() as out:
                print('{"a": 1}', file=out)
                print("chatter")
        after = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino, fds())
        assert before == after, (before, after)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"a": 1}\n' * 3 and done.stderr == "chatter\n" * 3


def test_without_descriptor_2_it_does_nothing():
    done = run_python(
        """
        os.close(2)
        with quiet.native_output_hidden():
            os.write(1, b"native out\\n")
            print("result", flush=True)
        """
    )
    assert done.returncode == 0
    assert done.stdout == "native out\nresult\n"


def test_streams_that_are_not_descriptors_are_left_alone(monkeypatch):
    """Under pytest's capsys (or a StringIO) sys.stdout is not descriptor 1: kept as it is."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    with quiet.native_output_hidden():
        assert sys.stdout is buffer
        print("result")
    assert sys.stdout is buffer and buffer.getvalue() == "result\n"


# --------------------------------------------------------------------------- results on stdout


def test_only_results_reach_stdout(monkeypatch):
    out, err = io.StringIO(), io.StringIO()  # standing for the real streams
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with quiet.results_stream() as results:
        print("Downloading data from https://example.org/mnist.npz")  # a library's print
        print(json.dumps({"file": "b.png", "digit": 7}), file=results)
        sys.stdout.write("\r[#####-----] 50%")
    assert out.getvalue() == '{"file": "b.png", "digit": 7}\n'
    assert (
        err.getvalue() == "Downloading data from https://example.org/mnist.npz\n\r[#####-----] 50%"
    )
    assert sys.stdout is out and sys.stderr is err


# --------------------------------------------------------------------------- one line dropped


def test_native_lines_dropped_keeps_everything_else_in_order():
    done = run_python(
        """
        print("before", file=sys.stderr, flush=True)
        with quiet.native_lines_dropped(b"INFO: Created", b"noise"):
            os.write(2, b"kept 1\\nINFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
            print("python line", file=sys.stderr)
            os.write(2, b"noise here\\nkept 2\\n")
            os.write(1, b"stdout untouched\\n")
        print("after", file=sys.stderr)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "before\nkept 1\npython line\nkept 2\nafter\n"
    assert done.stdout == "stdout untouched\n"


def test_native_lines_dropped_lets_everything_through_with_the_switch():
    done = run_python(
        """
        with quiet.native_lines_dropped(b"INFO"):
            os.write(2, b"INFO: a notice\\n")
        """,
        **{quiet.NATIVE_LOGS_ENV: "1"},
    )
    assert done.stderr == "INFO: a notice\n"
