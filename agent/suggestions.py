"""Suggested next messages after a turn, shown as clickable options under the answer.

They are read from where the chat stands (a plan waiting for a yes, a run training, a finished run, a
file without a plan), not from the answer's wording, so both modes get the same, always-valid shortcuts.
Each option is a message guided mode understands, so a click works with or without an LLM.
"""

from __future__ import annotations

from typing import Any

from tools.context import ToolContext
from tools.forgetting_tools import remedy_offered
from tools.pending import kind_of, pending_action
from trainer.store.registry import ACTIVE as ACTIVE_STATUSES

MAX_OPTIONS = 4


def suggest_next(ctx: ToolContext, state: dict[str, Any]) -> list[str]:
    """Up to four next messages for this chat, most likely first (a plan waiting in the chat's one pending-plan
    store, in either mode, offers the replies that answer it)."""
    asked = state.pop("ask_choices", None)  # a question's answers (the method advisor's two ways), this turn only
    action = pending_action(ctx)
    if action is not None:
        # An action that waits for a pick among places ("run it on together") offers those replies first.
        picks = [str(choice["reply"]) for choice in action["arguments"].get("choices") or []]
        return [*picks, *kind_of(action).options][:MAX_OPTIONS]
    if asked:
        return list(asked)[:MAX_OPTIONS]
    runs = ctx.registry.list_runs(ctx.session_id) if ctx.session_id else []
    latest = runs[-1] if runs else None
    if latest and latest["status"] in ACTIVE_STATUSES:
        return ["status", "stop"]
    options: list[str] = []
    if latest and latest["status"] == "succeeded":
        options += [f"evaluate run {latest['id']}", f"deploy run {latest['id']}"]
        if remedy_offered(ctx, latest["id"]):
            options.insert(1, f"retrain run {latest['id']} with the remedy")
        if len(runs) >= 2:
            options.append(f"compare run {runs[-2]['id']} and run {latest['id']}")
    elif latest and latest["status"] == "failed":
        options += [f"why did run {latest['id']} fail?"]
    if state.get("active_file"):
        options += ["fine-tune a classifier on this"] if not runs else ["list runs"]
    elif not options:
        options = ["help"]
    return options[:MAX_OPTIONS]
