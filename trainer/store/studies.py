"""Hyperparameter searches in the registry: one row per study (its settings, driver process and status) and the
runs that are its trials. The trials' values and states are Optuna's, in the workspace's search.db."""

from __future__ import annotations

import json
import time
from typing import Any

from trainer.core.errors import UserError
from trainer.store.db import Store

STUDY_STATUSES = ("queued", "running", "finished", "failed", "stopped")
STUDY_UPDATABLE = frozenset({"status", "pid", "error", "settings"})


class Studies(Store):
    def create_study(self, name: str, settings: dict[str, Any], session_id: str | None = None) -> None:
        now = time.time()
        with self._connect() as db:
            exists = db.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone()
            if exists:
                raise UserError(f"There is already a search named '{name}'; give another name or resume that one.")
            db.execute(
                "INSERT INTO studies (name, created_at, updated_at, session_id, status, settings) "
                "VALUES (?, ?, ?, ?, 'queued', ?)",
                (name, now, now, session_id, json.dumps(settings)),
            )

    def get_study(self, name: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM studies WHERE name = ?", (name,)).fetchone()
        return _study_row(row) if row is not None else None

    def list_studies(self, session_id: str | None = None) -> list[dict[str, Any]]:
        query, params = "SELECT * FROM studies ORDER BY created_at", tuple[str, ...]()
        if session_id is not None:
            query, params = "SELECT * FROM studies WHERE session_id = ? ORDER BY created_at", (session_id,)
        with self._connect() as db:
            return [_study_row(row) for row in db.execute(query, params).fetchall()]

    def update_study(self, name: str, **changes: Any) -> None:
        unknown = set(changes) - STUDY_UPDATABLE
        if unknown:
            raise ValueError(f"cannot update study fields {sorted(unknown)}")
        if "status" in changes and changes["status"] not in STUDY_STATUSES:
            raise ValueError(f"unknown study status {changes['status']!r}")
        if "settings" in changes:
            changes["settings"] = json.dumps(changes["settings"])
        columns = ", ".join(f"{key} = ?" for key in changes)
        with self._connect() as db:
            db.execute(
                f"UPDATE studies SET {columns}, updated_at = ? WHERE name = ?", (*changes.values(), time.time(), name)
            )

    def add_study_run(self, study: str, run_id: int, trial: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO study_runs (run_id, study, trial) VALUES (?, ?, ?)", (run_id, study, trial)
            )

    def study_runs(self, study: str) -> dict[int, int]:
        """The study's runs: {run id: Optuna trial number}."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT run_id, trial FROM study_runs WHERE study = ? ORDER BY trial", (study,)
            ).fetchall()
        return {int(row["run_id"]): int(row["trial"]) for row in rows}

    def study_of_run(self, run_id: int) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT study FROM study_runs WHERE run_id = ?", (run_id,)).fetchone()
        return str(row["study"]) if row is not None else None


def _study_row(row: Any) -> dict[str, Any]:
    study = dict(row)
    study["settings"] = json.loads(study["settings"])
    return study
