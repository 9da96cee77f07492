"""Run records: what was trained, where, and how it ended.

Run statuses follow the OpenAI fine-tuning job vocabulary so local and hosted runs read alike.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from trainer.core.errors import UserError
from trainer.core.records import Record
from trainer.store.db import Store

STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
# A run in one of these still has (or is about to have) a worker process.
ACTIVE = ("validating_files", "queued", "running")


@dataclass(frozen=True, eq=False)
class RunRecord(Record):
    """One run as the registry holds it."""

    id: int
    created_at: float
    updated_at: float
    # One of STATUSES.
    status: str
    # Where it executes (trainer/backends/registry.py) and what it trains (trainer/tasks/registry.py).
    backend: str
    task: str
    model: str
    data: str
    # Its folder (config.json, logs, checkpoints, model, evaluation); empty until created.
    run_dir: str
    # The process that trains (or follows) it, while it does.
    pid: int | None
    # The chat that started it; None for the command line.
    session_id: str | None
    # The resolved run config (trainer/plan/config.py), as saved in config.json.
    config: dict[str, Any]
    # The numbers it reported (test metrics, final loss, ...); None until it reports any.
    metrics: dict[str, Any] | None
    # Why it failed or stopped, in one sentence.
    error: str | None


# The fields a run may change after it is created; the rest describe what was asked for.
UPDATABLE = frozenset({"status", "run_dir", "pid", "metrics", "error"})


class RunRecords(Store):
    def create_run(self, config: dict[str, Any], session_id: str | None = None, backend: str | None = None) -> int:
        """Register a queued run of `config` (on `backend`, by default the config's own; a config that names none
        gets the table's default, the local backend)."""
        backend = backend or config.get("backend")
        now = time.time()
        values: dict[str, Any] = {"created_at": now, "updated_at": now, "status": "queued", "task": config["task"]}
        values.update(model=config["model"], data=config["data"], session_id=session_id, config=json.dumps(config))
        if backend:
            values["backend"] = str(backend)
        with self._connect() as db:
            cursor = db.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                tuple(values.values()),
            )
            return int(cursor.lastrowid or 0)

    def update_run(self, run_id: int, **changes: Any) -> None:
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValueError(f"unknown status {changes['status']!r}")
        if "metrics" in changes and not isinstance(changes["metrics"], str | None):
            changes["metrics"] = json.dumps(changes["metrics"])
        columns = ", ".join(f"{key} = ?" for key in changes)
        with self._connect() as db:
            db.execute(
                f"UPDATE runs SET {columns}, updated_at = ? WHERE id = ?",
                (*changes.values(), time.time(), run_id),
            )

    def get_run(self, run_id: int) -> RunRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"There is no run {run_id}; say 'list runs' (or run `tunechat runs`) to see the run ids.")
        return _run_row(row)

    def list_runs(self, session_id: str | None = None) -> list[RunRecord]:
        query, params = "SELECT * FROM runs ORDER BY id", tuple[str, ...]()
        if session_id is not None:
            query, params = "SELECT * FROM runs WHERE session_id = ? ORDER BY id", (session_id,)
        with self._connect() as db:
            return [_run_row(row) for row in db.execute(query, params).fetchall()]

    def delete_run(self, run_id: int) -> None:
        """Forget a run and its deployment rows (AUTOINCREMENT: its id is never given to a new run)."""
        with self._connect() as db:
            db.execute("DELETE FROM deployments WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))


def _run_row(row: sqlite3.Row) -> RunRecord:
    run = dict(row)
    run["config"] = json.loads(run["config"])
    run["metrics"] = json.loads(run["metrics"]) if run["metrics"] else None
    return RunRecord(**run)
