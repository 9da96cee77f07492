"""The action each chat has waiting for the user's own yes: at most one per chat, a new one replaces it.

Confirming is exactly-once: take_pending_action deletes the row and hands the action only to the call
that removed it, so two "yes" arriving together (two tabs, or the command line and the web on one chat,
in two processes) carry the action out once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from trainer.store.db import Store


class PendingActions(Store):
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
        return _action(row) if row is not None else None

    def take_pending_action(self, session_id: str, action_id: str) -> dict[str, Any] | None:
        """Remove the chat's pending action `action_id` and return it, or None when it is not there any more
        (another call took it, it was dropped, or a newer plan replaced it). Only the one call whose DELETE
        removed the row gets the action, whichever process it runs in."""
        with self._connect() as db:
            # fetchall runs the statement to its end, so the delete is complete before the commit.
            rows = db.execute(
                "DELETE FROM pending_actions WHERE session_id = ? AND id = ? RETURNING *", (session_id, action_id)
            ).fetchall()
        return _action(rows[0]) if rows else None

    def clear_pending_action(self, session_id: str, action_id: str | None = None) -> None:
        """Remove the chat's pending action (only if it is still `action_id`, when given)."""
        query, params = "DELETE FROM pending_actions WHERE session_id = ?", [session_id]
        if action_id is not None:
            query, params = query + " AND id = ?", [session_id, action_id]
        with self._connect() as db:
            db.execute(query, params)


def _action(row: sqlite3.Row) -> dict[str, Any]:
    action = dict(row)
    action["arguments"] = json.loads(action["arguments"])
    return action
