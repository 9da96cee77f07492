"""Suggested next messages after a turn, shown as clickable options under the answer.

They are read from where the chat stands (a plan waiting for a yes, a run training, a finished run, a
file without a plan), not from the answer's wording, so both modes get the same, always-valid shortcuts.
Each option is a message guided mode understands, so a click works with or without an LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.types import ToolStep
from tools.context import ToolContext
from tools.pending import pending_action
from trainer.store.registry import ACTIVE as ACTIVE_STATUSES

MAX_OPTIONS = 4


def suggest_next(ctx: ToolContext, state: dict[str, Any], steps: Sequence[ToolStep] = ()) -> list[str]:
    """Up to four next messages for this chat, most likely first. `steps` are the turn's tool calls: in LLM
    mode a plan lives only in the conversation, so a turn that proposed one is how we know it waits for a go."""
    from trainer.backends.openai.job import pending_plan

    if pending_action(ctx) is not None:
        return ["yes", "no"]
    if pending_plan(ctx.workspace, ctx.session_id):
        return ["go", "stop"]
    runs = ctx.registry.list_runs(ctx.session_id) if ctx.session_id else []
    latest = runs[-1] if runs else None
    if latest and latest["status"] in ACTIVE_STATUSES:
        return ["status", "stop"]
    if state.get("plan") or any(step.name == "propose_plan" and step.ok for step in steps):
        return ["go", "use 5 epochs", "help"]
    options: list[str] = []
    if latest and latest["status"] == "succeeded":
        options += [f"evaluate run {latest['id']}", f"deploy run {latest['id']}"]
        if len(runs) >= 2:
            options.append(f"compare run {runs[-2]['id']} and run {latest['id']}")
    elif latest and latest["status"] == "failed":
        options += [f"why did run {latest['id']} fail?"]
    if state.get("active_file"):
        options += ["fine-tune a classifier on this"] if not runs else ["list runs"]
    elif not options:
        options = ["help"]
    return options[:MAX_OPTIONS]
