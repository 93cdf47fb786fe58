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
            with quiet.quiet_command(json_only=True):
                print('{"a": 1}')
        after = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino, fds())
        assert before == after, (before, after)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"a": 1}\n' * 3


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


# --------------------------------------------------------------------------- JSON-only stdout


def fake_streams(monkeypatch) -> tuple[io.StringIO, io.StringIO]:
    """(stdout, stderr) StringIOs standing for the real streams. Set in the test itself: pytest
    puts its own sys.stdout back between a fixture's setup and the test."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return out, err


def test_only_json_lines_reach_stdout(monkeypatch):
    out, err = fake_streams(monkeypatch)
    with quiet.json_only_stdout():
        print("Downloading data from https://example.org/mnist.npz")
        sys.stdout.write('{"file": "a.png", ')  # one JSON line written in pieces
        sys.stdout.write('"digit": 4}\n[1, 2]\n')
        print("{not json")
        print("")
        print(42)  # JSON, but not an object or array: a library's stray number
        print(json.dumps({"file": "b.png", "digit": 7}))
    assert (
        out.getvalue() == '{"file": "a.png", "digit": 4}\n[1, 2]\n{"file": "b.png", "digit": 7}\n'
    )
    assert (
        err.getvalue() == "Downloading data from https://example.org/mnist.npz\n{not json\n\n42\n"
    )
    assert sys.stdout is out


def test_progress_without_a_newline_reaches_stderr_at_once(monkeypatch):
    out, err = fake_streams(monkeypatch)
    with quiet.json_only_stdout():
        sys.stdout.write("\r[#####-----] 50%")
        assert err.getvalue() == "\r[#####-----] 50%"  # not held back until a newline
        sys.stdout.write("\r[##########] 100%\n")
        sys.stdout.write("[#####")  # a bar without "\r" is not taken for a JSON array either
        assert err.getvalue().endswith("[#####")
        sys.stdout.write("-----]\n")
        sys.stdout.write('{"done": true}')  # the last line, without its newline
    assert err.getvalue() == "\r[#####-----] 50%\r[##########] 100%\n[#####-----]\n"
    assert out.getvalue() == '{"done": true}'
