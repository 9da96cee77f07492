"""A room's buttons that start or change something: the first click prepares a plan through the chat's own tools
(tools/pending.py stores it), the second click confirms exactly that plan, by its id, checked in code.

A room keeps its plans under its own key per browser tab ("room-..."), apart from the chat's: a plan prepared in
the Runs tab is never what a "yes" typed in the chat confirms, and the reverse. Each plan names the run it acts on.
Read-only views (a run's evaluation) need no plan. No Gradio here: ui/rooms/runs.py wires these to buttons.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from agent.assistant import Assistant
from agent.confirmations import render_action_result
from tools.context import ToolContext
from tools.export_tools import export_run
from tools.history_tools import resume_run
from tools.pending import confirm_pending, drop_pending, executor, pending_action, propose_action
from tools.run_tools import STOP_OTHER, deploy_run
from trainer.backends.runs import run_status
from trainer.core.errors import BusyError, UserError
from trainer.core.records import plain
from trainer.store.registry import ACTIVE
from trainer.tasks.registry import task_of
from ui.render import MARKDOWN

# What the buttons prepare, by the name on the button.
STOP, RESUME, EXPORT, DEPLOY = "stop", "resume", "export", "deploy"
ACTIONS = (STOP, RESUME, EXPORT, DEPLOY)
# The chat exports on request; a room's export button waits for the second click like every other change.
EXPORT_KIND = "room_export"


def room_key() -> str:
    """A fresh key for one browser tab's room plans (never a chat session id, never the command line's "")."""
    return f"room-{uuid.uuid4().hex[:12]}"


def notice(action: dict[str, Any]) -> str:
    """The waiting plan in the words the second click confirms."""
    return f"**Waiting for your confirmation:** {action['summary']}. Press **Confirm** to carry it out, or **Cancel**."


@dataclass(frozen=True)
class Prepared:
    """What the first click gives: the text to show and the id of the plan the confirm button is bound to (None
    when nothing waits: the action needed no yes, e.g. a run already served, or it was refused)."""

    text: str
    action_id: str | None = None


@executor(EXPORT_KIND)
def _export(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The user confirmed the room's export: write it and check its parity (tools/export_tools.py)."""
    return export_run(ctx, int(arguments["run_id"]), format=arguments.get("format") or None)


class RoomPlans:
    """Prepare, confirm and cancel the plans of one room over the assistant's workspace and registry."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant

    def context(self, key: str) -> ToolContext:
        if not key.startswith("room-"):  # a chat session's plans are the chat's own to confirm
            raise UserError("This page lost its place; reload it and try again.")
        return ToolContext(self.assistant.workspace, self.assistant.registry, key, judge=self.assistant.judge)

    def prepare(self, key: str, action: str, run_id: int | None, export_format: str | None = None) -> Prepared:
        """The first click: the plan for `action` on run `run_id`, stored to wait for the second click."""
        try:
            if run_id is None:
                raise UserError("Pick a run first, then press the button again.")
            ctx = self.context(key)
            drop_pending(ctx)  # the newest button pressed is the one plan that waits
            result = self._propose(ctx, action, int(run_id), export_format)
        except UserError as error:
            return Prepared(f"⚠️ {error}")
        waiting = pending_action(ctx)
        if result.get("needs_confirmation") and waiting is not None and waiting["id"] == result.get("action_id"):
            return Prepared(f"{result.get('message') or ''}\n\n{notice(waiting)}".strip(), waiting["id"])
        if action == DEPLOY:  # already served, or handed to vLLM/Ollama on a GPU: nothing to confirm
            return Prepared(MARKDOWN.deployment(plain(result)))
        return Prepared(str(result.get("message") or "Nothing to confirm."))

    def _propose(self, ctx: ToolContext, action: str, run_id: int, export_format: str | None) -> dict[str, Any]:
        run = ctx.registry.get_run(run_id)
        if action == STOP:
            state = run_status(ctx.workspace, ctx.registry, run_id)["status"]
            if state not in ACTIVE:
                raise UserError(f"Run {run_id} is not training, so there is nothing to stop.")
            return propose_action(
                ctx, STOP_OTHER, {"run_id": run_id}, f"Stop run {run_id} ({state}); its checkpoints stay"
            )
        if action == RESUME:
            return resume_run(ctx, run_id)
        if action == DEPLOY:
            return deploy_run(ctx, run_id)
        if action == EXPORT:
            offered = task_of(run).exports
            if run["status"] != "succeeded":
                raise UserError(f"Run {run_id} has not finished successfully, so there is no model to export yet.")
            if not offered:
                raise UserError(f"Run {run_id}'s kind of model has no export format; deploy it instead.")
            chosen = export_format if export_format in offered else offered[0]
            summary = f"Export run {run_id} as {chosen} into its folder (export/{chosen}/) and check it answers alike"
            return propose_action(ctx, EXPORT_KIND, {"run_id": run_id, "format": chosen}, summary)
        raise UserError(f"There is no action '{action}'; use one of {', '.join(ACTIONS)}.")

    def confirm(self, key: str, action_id: str | None) -> str:
        """The second click: carry out exactly the plan the first click showed (its id), once."""
        if not action_id:
            return "⚠️ Nothing waits for a confirmation; press an action's button first."
        try:
            ctx = self.context(key)
            waiting = pending_action(ctx)
            result = plain(confirm_pending(ctx, action_id=action_id))
        except BusyError as error:
            return f"⚠️ {error} The plan keeps waiting."
        except UserError as error:
            return f"⚠️ {error} Nothing was done."
        kind = waiting["kind"] if waiting else str(result.get("action"))
        if kind == EXPORT_KIND:
            return MARKDOWN.export(result)
        return render_action_result(kind, result, MARKDOWN)

    def cancel(self, key: str, action_id: str | None) -> str:
        """Drop the waiting plan (only if it is still the one shown)."""
        try:
            ctx = self.context(key)
        except UserError as error:
            return f"⚠️ {error}"
        waiting = pending_action(ctx)
        if waiting is None or waiting["id"] != action_id:
            return "Nothing waits for a confirmation."
        drop_pending(ctx)
        return f"Dropped the plan ({waiting['summary']}); nothing was done."
