"""Chat sessions: each chat's messages, its title and its state (uploaded files, the guided mode's plan),
so a restart continues the conversation.

They are the agent's memory, so they live here, not in the trainer; the tables share the workspace's
SQLite file with the trainer's store but have their own migrations (component "sessions"), which the
trainer never sees.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from trainer.store.db import Migrations, Store

SESSION_MIGRATIONS = Migrations("sessions")

# The tables as they were when the trainer's registry made them: a database from then keeps its chats.
SESSION_MIGRATIONS.sql(
    "m001_initial_tables",
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        created_at REAL NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        images TEXT NOT NULL DEFAULT '[]'
    )""",
)

# Every turn reads its chat's history; without this it scans every chat's messages.
SESSION_MIGRATIONS.sql(
    "m002_messages_by_session",
    "CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id)",
)


class SessionStore(Store):
    """The chats in one workspace database. Every method opens its own short connection."""

    def __init__(self, db_path: Path):
        super().__init__(db_path, SESSION_MIGRATIONS)

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
        """Name the chat after its first message; a chat that has a title keeps it."""
        with self._connect() as db:
            db.execute("UPDATE sessions SET title = ? WHERE id = ? AND title = ''", (title, session_id))

    def list_sessions(self) -> list[dict[str, Any]]:
        """Every chat (id, created_at, updated_at, title), the most recently active first."""
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
        """The chat's messages, oldest first: role, content, images (paths) and created_at."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT role, content, images, created_at FROM messages WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        return [{**dict(row), "images": json.loads(row["images"])} for row in rows]

    def uploaded_files(self, session_id: str) -> list[str]:
        """The file names the chat's state says were uploaded into it, oldest first."""
        return [str(name) for name in self.session_state(session_id).get("files") or []]
