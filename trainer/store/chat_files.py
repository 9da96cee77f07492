"""Files a chat made besides its uploads (prepared dataset folders): only that chat may use them."""

from __future__ import annotations

import time

from trainer.store.db import Store


class ChatFiles(Store):
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

    def file_owners(self, path: str) -> list[str]:
        """The chats that made or claimed `path` (one prepared folder can be the same content for several)."""
        with self._connect() as db:
            rows = db.execute("SELECT session_id FROM session_files WHERE path = ? ORDER BY created_at", (path,))
            return [str(row["session_id"]) for row in rows.fetchall()]

    def release_session_file(self, session_id: str | None, path: str) -> int:
        """Drop the chat's claim on `path` (every claim when `session_id` is None: the command line deletes for all)
        and return how many chats still claim it, in one transaction: of two chats letting go at once, exactly one
        sees none left."""
        with self._connect() as db:
            if session_id is None:
                db.execute("DELETE FROM session_files WHERE path = ?", (path,))
            else:
                db.execute("DELETE FROM session_files WHERE session_id = ? AND path = ?", (session_id, path))
            row = db.execute("SELECT COUNT(*) AS n FROM session_files WHERE path = ?", (path,)).fetchone()
        return int(row["n"])
