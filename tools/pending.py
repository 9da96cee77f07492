"""Actions that change the world wait for the user's own yes, checked in code.

A tool that would deploy a model, delete a run or a dataset, or relaunch a run does not act: it calls
`propose_action`, which stores the action as this chat's one pending action and returns its plan.
Only `confirm_pending`, called by code that saw the user's own confirming message (agent/assistant.py)
or button press (ui/web.py), carries it out. No LLM tool can confirm, so a model (or an instruction
hidden in a data file) can at most propose an action, and the user sees its plan before saying yes.

Executors are registered per kind with `@executor("kind")`; each takes the ToolContext and the stored
arguments and returns the result dict of the action.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from tools.context import ToolContext
from trainer.core.errors import UserError

Executor = Callable[[ToolContext, dict[str, Any]], dict[str, Any]]
EXECUTORS: dict[str, Executor] = {}

# Told to the model with every proposal, so it presents the plan instead of claiming the action is done.
NEXT_STEP = (
    "Nothing has been done yet. Show this plan to the user and ask them to reply 'yes' to carry it out or 'no' "
    "to drop it; tunechat itself acts on that reply (you cannot)."
)


def executor(kind: str) -> Callable[[Executor], Executor]:
    """Register the function that carries out pending actions of `kind`."""

    def register(func: Executor) -> Executor:
        EXECUTORS[kind] = func
        return func

    return register


def _session_key(ctx: ToolContext) -> str:
    # The command line has no chat session; its actions are keyed by the empty string.
    return ctx.session_id or ""


def propose_action(ctx: ToolContext, kind: str, arguments: dict[str, Any], summary: str) -> dict[str, Any]:
    """Store `kind(arguments)` as the chat's pending action (replacing any earlier one) and return its plan.

    `summary` is the one-line plan the user confirms, e.g. "Deploy run 3 on http://127.0.0.1:8000".
    """
    if kind not in EXECUTORS:
        raise ValueError(f"no executor registered for pending action kind {kind!r}")
    action = {
        "id": uuid.uuid4().hex[:10],
        "kind": kind,
        "arguments": arguments,
        "summary": summary,
        "created_at": time.time(),
    }
    ctx.registry.set_pending_action(_session_key(ctx), action)
    _drop_openai_plan(ctx)  # one plan waits at a time: "yes" must mean the plan shown last
    return {
        "needs_confirmation": True,
        "action_id": action["id"],
        "action": kind,
        "plan": summary,
        "arguments": arguments,
        "next_step": NEXT_STEP,
    }


def pending_action(ctx: ToolContext) -> dict[str, Any] | None:
    """The chat's pending action {"id", "kind", "arguments", "summary", "created_at"}, or None."""
    return ctx.registry.pending_action(_session_key(ctx))


def confirm_pending(ctx: ToolContext, action_id: str | None = None) -> dict[str, Any]:
    """Carry out the chat's pending action. Call only from code handling the user's own confirmation.

    With `action_id` (a button bound to one plan) a newer plan is not confirmed by an older button.
    The action is removed before it runs, so a double click or a retry never runs it twice.
    """
    action = pending_action(ctx)
    if action is None or (action_id is not None and action["id"] != action_id):
        raise UserError("There is nothing waiting for a yes right now; ask for the action again to get a new plan.")
    ctx.registry.clear_pending_action(_session_key(ctx), action["id"])
    result = EXECUTORS[action["kind"]](ctx, action["arguments"])
    return {"action": action["kind"], "plan": action["summary"], **result}


def drop_pending(ctx: ToolContext) -> dict[str, Any] | None:
    """Forget the chat's pending action (the user said no); returns it, or None if there was none."""
    action = pending_action(ctx)
    if action is not None:
        ctx.registry.clear_pending_action(_session_key(ctx), action["id"])
    return action


def _drop_openai_plan(ctx: ToolContext) -> None:
    from trainer.backends.openai.job import clear_pending

    clear_pending(ctx.workspace, ctx.session_id)
