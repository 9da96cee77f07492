"""What every training process writes while it works, whatever its task: progress.json, one-sentence errors.

The run folder is the only channel between a worker and the chat (besides the registry row), so every task
writes progress the same way and words a failure the same way: one sentence for the user, plus the raw
exception line the diagnosis reads (trainer/evaluate/diagnosis.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError, disk_full_sentence, is_disk_full
from trainer.core.fileio import atomic_write_json
from trainer.plan.config import RunConfig
from trainer.tasks.guards import is_out_of_memory, oom_message


def log(message: str) -> None:
    """A line in the run's train.log (a worker's stdout), marked as tunechat's own."""
    try:
        print(f"[tunechat] {message}", flush=True)
    except OSError:
        pass  # a log line lost on a full disk must not stop the run from recording how it ended


class ProgressWriter:
    """Keeps the latest progress fields and rewrites progress.json atomically."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "progress.json"
        self.started = time.monotonic()
        self.fields: dict[str, Any] = {
            "phase": "loading",
            "step": 0,
            "total_steps": None,
            "epoch": 0.0,
            "loss": None,
            "eta_s": None,
        }
        self.last_write = 0.0

    def write(self, **changes: Any) -> None:
        self.fields.update(changes)
        self.fields["elapsed_s"] = round(time.monotonic() - self.started, 1)
        self.fields["updated_at"] = time.time()
        atomic_write_json(self.path, self.fields)
        self.last_write = time.monotonic()


# The phase a run shows while an offline model is installed and converted before its first load.
FETCH_PHASE = "downloading/converting model"


def fetch_model(name: str, progress: ProgressWriter) -> str:
    """The folder (or hub id) to load a run's model from, through the offline catalog: a catalog model that is not
    on this machine yet is installed and converted now, and progress.json says so while it happens."""
    from trainer.models.catalog import resolve

    def report(message: str) -> None:
        log(message)
        progress.write(phase=FETCH_PHASE, detail=message)

    path = resolve(name, progress=report)
    if progress.fields.get("phase") == FETCH_PHASE:
        progress.write(phase="loading", detail=None)
    return path


def error_sentence(error: BaseException) -> str:
    """A UserError's own sentence; otherwise the exception type and its first line."""
    if isinstance(error, UserError):
        return str(error)
    if is_disk_full(error):
        return disk_full_sentence("the run's files", "resume the run or start it again")
    text = (str(error).strip().splitlines() or [""])[0][:400].rstrip(" .")
    return f"Training failed with {type(error).__name__}" + (f": {text}" if text else "") + "."


def error_details(error: BaseException) -> dict[str, str]:
    """The exception's type and first line, as recorded in progress.json next to the one-sentence error."""
    first = (str(error).strip().splitlines() or [""])[0][:600]
    return {"error_type": type(error).__name__, "error_detail": first}


def failure_message(error: BaseException, config: RunConfig | None, device: str) -> str:
    """The one sentence for the registry; an out-of-memory error says so, names the allocation that failed and
    what to change in `config` (both workers record failures through this)."""
    from trainer.core.memory import parse_size

    if config is None or not is_out_of_memory(error):
        return error_sentence(error)
    return oom_message(config, device, parse_size(str(error)))
