"""How tunechat starts its own child processes (training workers, model servers, job followers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

# The folder holding the trainer package: children import it from here, installed or not.
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def child_env(drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment less `drop`, with `trainer` importable and output unbuffered
    (so a child's log fills as it works, not at exit)."""
    dropped = set(drop)
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE_ROOT, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def process_alive(pid: int, modules: Sequence[str], children: dict[int, subprocess.Popen[bytes]]) -> bool:
    """True while `pid` is a live process of ours running one of `modules` (e.g. "trainer.backends.worker").

    `children` are the processes this process started (polled directly). Any other pid is probed: an
    exited, zombie or recycled pid (now another program, or another user's process) is not ours.
    """
    child = children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        children.pop(pid, None)
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False  # our child from before this process tracked it, now reaped
    except ChildProcessError:
        pass  # not our child: only the signal probe and /proc can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process has this pid now; ours all run as this user
    stat = _proc_file(pid, "stat")
    if stat is not None and stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        return False  # a zombie nobody has reaped yet
    cmdline = _proc_file(pid, "cmdline")
    if cmdline is None:
        return True  # no /proc here: the signal probe is all there is
    return any(module in cmdline for module in modules)


def _proc_file(pid: int, name: str) -> str | None:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
