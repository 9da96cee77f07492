"""The one plan that waits for a yes, per chat: a training plan, a hosted job, a deployment, a deletion, ...

Every tool that would start, spend or change something stores what it would do here (`propose_action`) and
returns the plan; a newer plan replaces the older one, so a "yes" always means the plan shown last. Carrying
it out goes through `confirm_pending`, which takes the plan out of the store first and acts only if this call
removed it: two "yes" arriving together (two tabs, the CLI and the web on one chat) act once.

Only the user's own reply confirms a plan: it is handled in code before any model sees it
(agent/confirmations.py), and no tool can confirm, so neither a model nor an instruction hidden in a data file
can start a run, deploy, delete or spend money. What starts is exactly the plan stored here. A plan waits only
until the next message that is not about it (agent/assistant.py drops it then).

A dry run (tools/dry_run_tools.py) is the one way to try a training plan that needs no yes: it spends nothing,
keeps no model, registers no run and changes nothing but a scratch folder it deletes; the plan keeps waiting.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.context import ToolContext
from trainer.core.errors import BusyError, UserError

Executor = Callable[[ToolContext, dict[str, Any]], dict[str, Any]]

# Told to the model with every proposal, so it presents the plan instead of claiming the action is done.
NEXT_STEP = (
    "Nothing has been done yet. Show this plan to the user and ask them to reply 'yes' to carry it out or 'no' "
    "to drop it; tunechat itself acts on that reply (you cannot)."
)


@dataclass(frozen=True)
class ActionKind:
    """How a kind of pending action is carried out, and the replies offered as buttons while it waits."""

    run: Executor
    options: tuple[str, ...]


KINDS: dict[str, ActionKind] = {}


def executor(kind: str, *, options: tuple[str, ...] = ("yes", "no")) -> Callable[[Executor], Executor]:
    """Register the function that carries out pending actions of `kind` once the user said yes."""

    def register(func: Executor) -> Executor:
        KINDS[kind] = ActionKind(func, options)
        return func

    return register


def kind_of(action: dict[str, Any]) -> ActionKind:
    return KINDS[action["kind"]]


def _session_key(ctx: ToolContext) -> str:
    # The command line has no chat session; its actions are keyed by the empty string.
    return ctx.session_id or ""


def propose_action(ctx: ToolContext, kind: str, arguments: dict[str, Any], summary: str) -> dict[str, Any]:
    """Store `kind(arguments)` as the chat's pending action (replacing any earlier one) and return its plan.

    `summary` is the one-line plan the user confirms, e.g. "Deploy run 3 on http://127.0.0.1:8000".
    """
    if kind not in KINDS:
        raise ValueError(f"no executor registered for pending action kind {kind!r}")
    action = {
        "id": uuid.uuid4().hex[:10],
        "kind": kind,
        "arguments": arguments,
        "summary": summary,
        "created_at": time.time(),
    }
    ctx.registry.set_pending_action(_session_key(ctx), action)
    return {
        "needs_confirmation": True,
        "action_id": action["id"],
        "action": kind,
        "plan": summary,
        "arguments": arguments,
        "next_step": NEXT_STEP,
    }


def pending_action(ctx: ToolContext, kind: str | None = None) -> dict[str, Any] | None:
    """The chat's pending action {"id", "kind", "arguments", "summary", "created_at"} (of `kind`), or None."""
    action = ctx.registry.pending_action(_session_key(ctx))
    if action is None or (kind is not None and action["kind"] != kind):
        return None
    return action


def confirm_pending(
    ctx: ToolContext, action_id: str | None = None, kind: str | None = None, choice: str | None = None
) -> dict[str, Any]:
    """Carry out the chat's pending action, exactly once. Call it only from code handling the user's own
    confirmation (a reply, a button, a command the user typed), never from a tool a model can call.

    With `action_id` (a button bound to one plan) a newer plan is not confirmed by an older button; with `kind`
    only an action of that kind is. `choice` is the reply that picked one of the action's own "choices" (the
    executor reads it as arguments["choice"]; a plain yes leaves it out).
    """
    action = pending_action(ctx, kind)
    if action is None or (action_id is not None and action["id"] != action_id):
        raise UserError("There is nothing waiting for a yes right now; ask for the action again to get a new plan.")
    taken = ctx.registry.take_pending_action(_session_key(ctx), action["id"])
    if taken is None:
        raise UserError(
            "That plan was already carried out (or replaced) a moment ago; say 'status' to see where things are."
        )
    try:
        arguments = {**taken["arguments"], "choice": choice} if choice else taken["arguments"]
        result = kind_of(taken).run(ctx, arguments)
    except BusyError:
        # The machine is busy, not the plan wrong: it waits again, so "go" later starts it unchanged.
        ctx.registry.set_pending_action(_session_key(ctx), taken)
        raise
    return {"action": taken["kind"], "plan": taken["summary"], **result}


def drop_pending(ctx: ToolContext) -> dict[str, Any] | None:
    """Forget the chat's pending action (the user said no); returns it, or None if there was none."""
    action = pending_action(ctx)
    if action is not None:
        ctx.registry.clear_pending_action(_session_key(ctx), action["id"])
    return action
