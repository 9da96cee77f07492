"""What a Together run keeps in its folder: the job record (together_job.json), progress.json and follow.log.

Exactly once: the record is written before every step that costs money and read first on every attempt
(trainer/backends/together/job.py), so a crash, a timeout or a second "yes" never makes a second job.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainer.backends.together.client import redact
from trainer.core.fileio import atomic_write_json, read_json, update_json

RECORD = "together_job.json"


def read_record(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RECORD
    return dict(read_json(path)) if path.is_file() else {}


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    record["updated_at"] = time.time()
    atomic_write_json(run_dir / RECORD, record)


def write_progress(run_dir: Path, **changes: Any) -> dict[str, Any]:
    return update_json(run_dir / "progress.json", **changes, updated_at=time.time())


def log(run_dir: Path, message: str) -> None:
    """A line in the run's follow.log, with the API key (should it appear) redacted."""
    with (run_dir / "follow.log").open("a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {redact(message)}\n")
