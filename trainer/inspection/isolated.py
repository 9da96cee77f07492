"""Inspect an upload in a child process under a memory limit, so a file that blows up in memory costs the
child, never the chat process that serves every session.

Small files are inspected in this process, where they keep the chat turn's one parse
(trainer.data.turn_cache): plain text takes at most a small multiple of its size, and a small Parquet file
or zip archive that states it decodes or unpacks to more than a small budget
(trainer.data.limits.in_budget) goes to the child after all. Larger files and dataset folders are
inspected by `python -m trainer.inspection.isolated` with its address space limited (RLIMIT_AS) to the
read limit (trainer.data.limits) plus room for the interpreter and its libraries.
The report comes back as JSON, so the child can hand back nothing but data.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.processes import child_env
from trainer.data.limits import MEMORY_ENV, OverBudget, in_budget, memory_limit_bytes
from trainer.inspection.report import inspect_file, listed_labels

INLINE_BYTES = 512_000  # files up to this size are inspected here: at worst ~130 MB of rows (one-letter lines)
INLINE_ROWS_BYTES = 128_000_000  # ... unless they state that their rows take more (Parquet), or unpack further (zip)
# The interpreter, pyarrow, tokenizers and (for a model named by folder) transformers and torch map about
# 1 GB of address space before a byte of data is read; the read limit comes on top of that.
ADDRESS_HEADROOM = 1_500_000_000
TIMEOUT_S = 900
# Inspection reads a file and a tokenizer: it needs no API key or token of any service.
SECRET_NAME = re.compile(r"(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
# How a native library dies when an allocation fails under the limit (C++ bad_alloc, Rust's alloc error).
NATIVE_OUT_OF_MEMORY = ("bad_alloc", "memory allocation of", "MemoryError", "Cannot allocate memory")


def inspect_upload(path: Path, **options: Any) -> dict[str, Any]:
    """trainer.inspection.report.inspect_file as the chat gets it (listed_labels), in a memory-limited child process
    unless the file is small."""
    path = Path(path)
    if _inline(path):
        try:
            with in_budget(INLINE_BYTES, INLINE_ROWS_BYTES):
                return listed_labels(inspect_file(path, **options))
        except OverBudget:
            pass  # a small file that states it unpacks or decodes to more: the child reads it
    return listed_labels(inspect_in_child(path, **options))


def inspect_in_child(path: Path, **options: Any) -> dict[str, Any]:
    """The inspection report of `path` from a child process; its UserError comes back as one, and running out of
    memory becomes one sentence naming the limit."""
    limit = memory_limit_bytes()
    env = child_env(drop=[name for name in os.environ if SECRET_NAME.search(name)])
    env["TUNECHAT_INSPECT_ADDRESS_LIMIT"] = str(limit + ADDRESS_HEADROOM)
    request = json.dumps({"path": str(path), "options": options})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "trainer.inspection.isolated"],
            input=request.encode("utf-8"),
            capture_output=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise UserError(
            f"Inspecting '{path.name}' took more than {TIMEOUT_S // 60} minutes and was stopped; upload a smaller "
            "sample of it."
        ) from None
    answer = _answer(done.stdout)
    if answer.get("ok"):
        return dict(answer["report"])
    if "user_error" in answer:
        raise UserError(str(answer["user_error"]))
    stderr = done.stderr.decode("utf-8", errors="replace")
    if answer.get("memory") or _died_of_memory(done.returncode, stderr):
        raise UserError(
            f"'{path.name}' needs more memory than the {limit / 1e6:,.0f} MB limit for reading a file; upload a "
            f"smaller file or raise {MEMORY_ENV}."
        )
    detail = answer.get("error") or stderr.strip()[-2000:] or f"exit status {done.returncode}"
    raise RuntimeError(f"Inspecting '{path.name}' failed in its child process: {detail}")


def _inline(path: Path) -> bool:
    """A file small enough to start reading here (without opening it: within a chat turn it is read only once)."""
    try:
        return path.is_file() and path.stat().st_size <= INLINE_BYTES
    except OSError:
        return True  # the reader says what is wrong with it


def _answer(stdout: bytes) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _died_of_memory(returncode: int, stderr: str) -> bool:
    killed = returncode in (-signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
    return killed or any(sign in stderr for sign in NATIVE_OUT_OF_MEMORY)


def _child_main() -> None:
    """Read {path, options} from stdin, write one JSON line to stdout: {ok, report}, {user_error}, {memory},
    or {error}. Anything else the libraries print goes to stderr, so the answer line stays the only one."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    address_limit = int(os.environ.get("TUNECHAT_INSPECT_ADDRESS_LIMIT", "0"))
    if address_limit > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (address_limit if hard < 0 else min(address_limit, hard), hard))
    request = json.loads(sys.stdin.buffer.read())
    answer: dict[str, Any]
    try:
        answer = {"ok": True, "report": inspect_file(Path(request["path"]), **request["options"])}
        text = json.dumps(answer, ensure_ascii=False)
    except UserError as error:
        text = json.dumps({"user_error": str(error)})
    except MemoryError:
        text = json.dumps({"memory": True})
    except Exception as error:  # reported to the parent, which raises it with this text
        text = json.dumps({"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-3000:]})
    with os.fdopen(answer_fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    _child_main()
