"""Run a script in a fresh interpreter, as a server starts, with a temporary folder of its own.

For tests of what a process leaves in the temporary folder: AutoGraph's caches and files,
TensorFlow's imports and Streamlit's runtime all live per process, so only a new one shows
what a server would do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo_script(script: str, *args: str, temp: Path, timeout: float) -> dict:
    """Run `script` (Python source) with `args`, TMPDIR=`temp` and demo mode on; return the
    JSON object it printed last. AssertionError with its stderr when it fails."""
    env = {**os.environ, "TMPDIR": str(temp), "MNIST_STUDIO_DEMO": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
