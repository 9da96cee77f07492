"""The run registry and chat sessions, in one SQLite file (WAL, so a training process and the chat
can write at the same time).

Run statuses follow the OpenAI fine-tuning job vocabulary so local and hosted runs read alike.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError

STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
# A run in one of these still has (or is about to have) a worker process.
ACTIVE = ("validating_files", "queued", "running")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT 'local',
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    data TEXT NOT NULL,
    run_dir TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    session_id TEXT,
    config TEXT NOT NULL,
    metrics TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at REAL NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    images TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS deployments (
    run_id INTEGER NOT NULL,
    created_at REAL NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    PRIMARY KEY (host, port)
);
-- Files a chat made besides its uploads (prepared datasets, by workspace-relative folder): only that chat sees them.
CREATE TABLE IF NOT EXISTS session_files (
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, path)
);
-- At most one action per chat waits for the user's own yes (tools/pending.py); a new one replaces it.
CREATE TABLE IF NOT EXISTS pending_actions (
    session_id TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    arguments TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class Registry:
    """Thin, typed access to the database. Every method opens its own short connection."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    # ---- runs -------------------------------------------------------------------------------

    def create_run(self, config: dict[str, Any], session_id: str | None = None, backend: str = "local") -> int:
        now = time.time()
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (created_at, updated_at, status, backend, task, model, data, session_id, config)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (now, now, backend, config["task"], config["model"], config["data"], session_id, json.dumps(config)),
            )
            return int(cursor.lastrowid or 0)

    def update_run(self, run_id: int, **changes: Any) -> None:
        allowed = {"status", "run_dir", "pid", "metrics", "error"}
        unknown = set(changes) - allowed
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

    def get_run(self, run_id: int) -> dict[str, Any]:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"There is no run {run_id}; say 'list runs' (or run `tunechat runs`) to see the run ids.")
        return _run_row(row)

    def list_runs(self, session_id: str | None = None) -> list[dict[str, Any]]:
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

    # ---- sessions ---------------------------------------------------------------------------

    def ensure_session(self, session_id: str, title: str = "") -> None:
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO sessions (id, created_at, updated_at, title) VALUES (?, ?, ?, ?)",
                (session_id, now, now, title),
            )

    def session_state(self, session_id: str) -> dict[str, Any]:
        with self._connect() as db:
            row = db.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return json.loads(row["state"]) if row else {}

    def save_session_state(self, session_id: str, state: dict[str, Any]) -> None:
        self.ensure_session(session_id)
        with self._connect() as db:
            db.execute(
                "UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?",
                (json.dumps(state), time.time(), session_id),
            )

    def set_session_title(self, session_id: str, title: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE sessions SET title = ? WHERE id = ? AND title = ''", (title, session_id))

    def list_sessions(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT id, created_at, updated_at, title FROM sessions ORDER BY updated_at DESC")
            return [dict(row) for row in rows.fetchall()]

    def add_message(self, session_id: str, role: str, content: str, images: list[str] | None = None) -> None:
        self.ensure_session(session_id)
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO messages (session_id, created_at, role, content, images) VALUES (?, ?, ?, ?, ?)",
                (session_id, now, role, content, json.dumps(images or [])),
            )
            db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT role, content, images, created_at FROM messages WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        return [{**dict(row), "images": json.loads(row["images"])} for row in rows]

    def add_session_file(self, session_id: str, path: str) -> None:
        """Record that the chat made `path` (workspace-relative), e.g. a prepared dataset folder."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO session_files (session_id, path, created_at) VALUES (?, ?, ?)",
                (session_id, path, time.time()),
            )

    def session_files(self, session_id: str) -> list[str]:
        """The workspace-relative paths the chat made, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT path FROM session_files WHERE session_id = ? ORDER BY created_at, path", (session_id,)
            ).fetchall()
        return [str(row["path"]) for row in rows]

    # ---- deployments ------------------------------------------------------------------------

    def add_deployment(self, run_id: int, host: str, port: int, pid: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO deployments (run_id, created_at, host, port, pid) VALUES (?, ?, ?, ?, ?)",
                (run_id, time.time(), host, port, pid),
            )

    def remove_deployment(self, host: str, port: int) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM deployments WHERE host = ? AND port = ?", (host, port))

    # ---- actions waiting for the user's confirmation ------------------------------------------

    def set_pending_action(self, session_id: str, action: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_actions (session_id, id, kind, arguments, summary, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    action["id"],
                    action["kind"],
                    json.dumps(action["arguments"]),
                    action["summary"],
                    action.get("created_at", time.time()),
                ),
            )

    def pending_action(self, session_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM pending_actions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        action = dict(row)
        action["arguments"] = json.loads(action["arguments"])
        return action

    def clear_pending_action(self, session_id: str, action_id: str | None = None) -> None:
        """Remove the chat's pending action (only if it is still `action_id`, when given)."""
        query, params = "DELETE FROM pending_actions WHERE session_id = ?", [session_id]
        if action_id is not None:
            query, params = query + " AND id = ?", [session_id, action_id]
        with self._connect() as db:
            db.execute(query, params)

    def take_pending_action(self, session_id: str, action_id: str) -> dict[str, Any] | None:
        """Remove the chat's pending action `action_id` and return it, only if THIS call removed it.

        Two confirmations arriving together (two tabs, the CLI and the web) race here; SQLite serialises the
        deletes, so exactly one of them gets the action and carries it out.
        """
        # One statement (DELETE ... RETURNING) so no reader snapshot can go stale between a look and the delete.
        with self._connect() as db:
            row = db.execute(
                "DELETE FROM pending_actions WHERE session_id = ? AND id = ? RETURNING *", (session_id, action_id)
            ).fetchone()
        if row is None:
            return None
        action = dict(row)
        action["arguments"] = json.loads(action["arguments"])
        return action

    def list_deployments(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(row) for row in db.execute("SELECT * FROM deployments ORDER BY created_at").fetchall()]


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    run["config"] = json.loads(run["config"])
    run["metrics"] = json.loads(run["metrics"]) if run["metrics"] else None
    return run
