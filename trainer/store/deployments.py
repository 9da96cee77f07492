"""Which run is served where: one row per listening host and port, with the server's process id."""

from __future__ import annotations

import time
from typing import Any

from trainer.store.db import Store


class Deployments(Store):
    def add_deployment(self, run_id: int, host: str, port: int, pid: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO deployments (run_id, created_at, host, port, pid) VALUES (?, ?, ?, ?, ?)",
                (run_id, time.time(), host, port, pid),
            )

    def remove_deployment(self, host: str, port: int) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM deployments WHERE host = ? AND port = ?", (host, port))

    def list_deployments(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(row) for row in db.execute("SELECT * FROM deployments ORDER BY created_at").fetchall()]
