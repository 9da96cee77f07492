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
