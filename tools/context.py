"""What every tool call knows besides its arguments: the workspace, the registry and the chat session.

The LLM never sees or sets these; the agent binds them, so a tool cannot be pointed at another
session or outside the workspace by anything said in the chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.core.workspace import Workspace
from trainer.evaluate.judge import Endpoint
from trainer.store.registry import Registry


@dataclass(frozen=True)
class ToolContext:
    workspace: Workspace
    registry: Registry
    session_id: str | None = None
    # The command line names local model folders anywhere; the chat only inside the workspace.
    allow_any_model_path: bool = False
    # The file names the chat's saved state lists as uploaded, filled by the agent (which owns the chats): uploads
    # made before each chat had its own folder lie in uploads/ itself and are found by these names.
    uploaded_names: tuple[str, ...] = ()
    # The LLM that judges base against tuned answers (the chat's own OpenAI-compatible backend, or the command
    # line's flags), key included; None when none is configured. Only the user's yes lets a tool call it.
    judge: Endpoint | None = None

    @classmethod
    def from_env(cls, session_id: str | None = None, allow_any_model_path: bool = False) -> ToolContext:
        workspace = Workspace.from_env()
        return cls(workspace, Registry(workspace.db_path), session_id, allow_any_model_path)
