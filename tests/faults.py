"""Faults the fault tests inject: a small disk filled up, a database held by another writer, a UI process
killed, with the real processes they run in."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# ---- a small disk ----------------------------------------------------------------------------------


def mount_tmpfs(folder: Path, size_bytes: int) -> str | None:
    """Mount a tmpfs of `size_bytes` on `folder`; None when done, else why it could not be (not root, ...)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a small disk needs root"
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size_bytes},mode=0700"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    return None if done.returncode == 0 else f"mount refused: {done.stderr.strip()}"


def unmount(folder: Path) -> None:
    # Lazy: a process of the test may still hold a file there open (a SQLite connection); it goes when they do.
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def fill_disk(folder: Path, leave: int) -> Path:
    """Take the free space of `folder`'s filesystem but `leave` bytes, with one file; delete it to free them."""
    filler = folder / "filler.bin"
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(free_bytes(folder) - leave, 1))
    return filler


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_reviews(path: Path, rows: int) -> Path:
    """A labelled TSV of `rows` distinct short reviews."""
    lines = ["label\ttext"] + [
        f"{'pos' if i % 2 else 'neg'}\treview {i} of the place was {'great' if i % 2 else 'awful'}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- child processes -------------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    """This test's environment (its workspace, offline) for a child process, with the project importable."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False", **extra}


def run_python(code: str, timeout_s: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(**env), cwd=ROOT, timeout=timeout_s
    )


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE runs SET error = 'half-done by the locker' WHERE id = 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds a write transaction on the database for `seconds`, then rolls it back."""
    locker = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(db_path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


class UiProcess:
    """`tunechat ui` (guided mode) in its own process on a free loopback port, over the test's workspace."""

    def __init__(self, home: Path, log: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        command = [sys.executable, "-m", "ui.cli", "ui", "--port", str(self.port), "--llm", "guided"]
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=child_env(TUNECHAT_HOME=str(home)), stdout=output, stderr=subprocess.STDOUT
            )
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the UI did not answer within {timeout_s} s: {self.log.read_text()[-2000:]}")

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=False, analytics_enabled=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def chat_text(chatbot: list[dict[str, Any]]) -> str:
    """All text in a Chatbot value as gradio_client receives it."""
    parts = []
    for message in chatbot:
        content = message["content"]
        for part in content if isinstance(content, list) else [content]:
            parts.append(part.get("text", "") if isinstance(part, dict) else str(part))
    return "\n".join(parts)


def say(client: Any, text: str, files: list[Any] | None = None) -> tuple[str, str]:
    """Send one chat message; return the last answer's text and the chat's session id."""
    chatbot, _, dropdown = client.predict({"text": text, "files": files or []}, api_name="/chat")
    answers = [message for message in chatbot if message["role"] == "assistant"]
    return chat_text(answers[-1:]), str(dropdown.get("value") or "")


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith("."), message
    assert message.count(". ") == 0, message  # a ';' joins what is wrong and what to do
