"""The child processes tunechat starts (training workers, model servers, job followers), in one table.

Each child runs in a new session, so a stop signal sent to its process group reaches its helpers but never
the chat, and it outlives the chat when it should (a server, a follower). Any tunechat process can watch or
stop one by pid: `alive` tells a live child of ours from an exited, zombie or recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# The folder holding the trainer package: children import it from here, installed or not.
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
# Variables a child that never talks to the chat's LLM (a training worker, a model server) must not inherit.
SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY")
# ...nor any other whose name says it holds a key, a secret or a password (as the variable a chat's settings
# name for its key usually does). Hub tokens (HF_TOKEN) stay: a worker or server may need one to fetch a gated model.
SECRET_NAME = re.compile(r"API_?KEY|SECRET|PASSWORD|PASSWD|PRIVATE_KEY", re.IGNORECASE)


def secret_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names in `environ` (this process's environment by default) that hold secrets: SECRET_ENV and every
    name SECRET_NAME matches."""
    env = os.environ if environ is None else environ
    return [name for name in env if name in SECRET_ENV or SECRET_NAME.search(name)]


def child_env(drop: Iterable[str] = (), extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment less `drop`, plus `extra`, with `trainer` importable and output unbuffered
    (so a child's log fills as it works, not at exit). A PYTHONPATH in `extra` goes after the source root."""
    dropped = set(drop)
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    extra = dict(extra or {})
    paths = [SOURCE_ROOT, *extra.pop("PYTHONPATH", "").split(os.pathsep), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ChildProcesses:
    """The processes this process started, by pid, so their exit is reaped (no zombies) and read precisely."""

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, command: Sequence[str], *, log: Path, env: Mapping[str, str], cwd: Path | None = None) -> int:
        """Start `command` in its own session, output appended to `log`; return its pid."""
        with log.open("ab") as output:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        self._children[process.pid] = process
        return process.pid

    def popen(self, pid: int) -> subprocess.Popen[bytes] | None:
        """The process object of a child this process started (None for any other pid)."""
        return self._children.get(pid)

    def exited(self, pid: int) -> bool:
        """True when `pid` is a child of ours that has exited (False for a pid we did not start)."""
        child = self._children.get(pid)
        if child is None or child.poll() is None:
            return False
        self._children.pop(pid, None)
        return True

    def alive(self, pid: int, modules: Sequence[str]) -> bool:
        """True while `pid` is a live process of ours running one of `modules` (e.g. "trainer.backends.worker").

        Our own children are polled directly. Any other pid is probed: an exited, zombie or recycled pid (now
        another program, or another user's process) is not ours.
        """
        child = self._children.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            self._children.pop(pid, None)
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

    def signal(self, pid: int, signum: int) -> None:
        """Signal the child's whole process group (it leads its own session), or the pid alone otherwise."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pid != os.getpid() and os.getpgid(pid) == pid:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)

    def wait_dead(self, pid: int, modules: Sequence[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive(pid, modules):
                return True
            time.sleep(0.1)
        return not self.alive(pid, modules)

    def terminate(self, pid: int, modules: Sequence[str], grace_s: float) -> None:
        """SIGTERM the child, SIGKILL it if it has not exited after `grace_s`, and reap it."""
        self.signal(pid, signal.SIGTERM)
        if not self.wait_dead(pid, modules, grace_s):
            self.signal(pid, signal.SIGKILL)
            self.wait_dead(pid, modules, 5.0)
        child = self._children.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5.0)


# The one table of this process's children.
CHILDREN = ChildProcesses()


def process_alive(pid: int, modules: Sequence[str]) -> bool:
    """True while `pid` is a live tunechat child running one of `modules` (see ChildProcesses.alive)."""
    return CHILDREN.alive(pid, modules)


def _proc_file(pid: int, name: str) -> str | None:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
