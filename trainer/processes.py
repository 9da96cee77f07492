"""How tunechat starts its own child processes (training workers, model servers, job followers)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# The folder holding the trainer package: children import it from here, installed or not.
SOURCE_ROOT = str(Path(__file__).resolve().parent.parent)


def child_env(drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment less `drop`, with `trainer` importable and output unbuffered
    (so a child's log fills as it works, not at exit)."""
    dropped = set(drop)
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE_ROOT, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env
