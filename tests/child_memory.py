"""Run a few lines of Python in a fresh child process and report what it printed, its peak memory and its time.

The peak is the child's own VmHWM (from /proc), not getrusage(RUSAGE_CHILDREN), which keeps the largest child
the test process ever waited for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_EPILOGUE = """
import json as _json
_peak = 0
for _line in open("/proc/self/status"):
    if _line.startswith("VmHWM:"):
        _peak = int(_line.split()[1]) * 1024
print("\\n" + _json.dumps({"result": RESULT, "peak": _peak}))
"""


@dataclass
class Measured:
    result: Any
    peak_mb: float
    seconds: float


def run_measured(code: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> Measured:
    """Run `code`, which must leave a JSON-able value in RESULT; return it with the child's peak RSS and time."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    script = textwrap.dedent(code) + _EPILOGUE
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-2000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(last["result"], last["peak"] / 1e6, seconds)
