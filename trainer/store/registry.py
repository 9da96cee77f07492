"""The trainer's store, one object over one SQLite file (WAL, so a training process and the chat can
write at the same time): runs, deployments, the files each chat made and the actions waiting for a yes.

Each part lives in its own module; Registry is the one object the rest of the code holds. Chat
sessions and their messages share the file but belong to the agent (agent/sessions.py).
"""

from __future__ import annotations

from pathlib import Path

from trainer.store.chat_files import ChatFiles
from trainer.store.deployments import Deployments
from trainer.store.migrations import STORE_MIGRATIONS
from trainer.store.pending_actions import PendingActions
from trainer.store.runs import ACTIVE, FINISHED, STATUSES, RunRecords
from trainer.store.studies import Studies

__all__ = ["ACTIVE", "FINISHED", "STATUSES", "Registry"]


class Registry(RunRecords, Deployments, ChatFiles, PendingActions, Studies):
    """Typed access to the trainer's tables. Every method opens its own short connection."""

    def __init__(self, db_path: Path):
        super().__init__(db_path, STORE_MIGRATIONS)
