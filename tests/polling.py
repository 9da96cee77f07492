"""Waiting for a background run to finish, with its log's tail when it does not."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainer.backends import runs
from trainer.store.registry import FINISHED


def wait_for_status(workspace: Any, registry: Any, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    """Poll a run until it has finished (succeeded, failed or cancelled); fail with its log's tail if it does not."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = runs.run_status(workspace, registry, run_id)
        if status["status"] in FINISHED:
            return status
        if time.monotonic() > deadline:
            log = Path(status.get("run_dir") or workspace.run_dir(run_id)) / "train.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"run {run_id} did not finish in {timeout_s} s: {tail}")
        time.sleep(0.3)
