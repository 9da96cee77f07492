"""What waits for a yes over MCP: the plan a tool stored, and the `confirm` and `cancel` tools that answer it.

In the chat only the user's own reply confirms a plan (agent/confirmations.py). An MCP client has no such reply,
so a tool that would start, spend or change something (train, deploy, search, remedy, judge, delete, ...) stores
its plan in tools/pending.py exactly as in the chat and returns it with its id; nothing starts. `confirm` with
that id carries out the stored plan, exactly once, as it was stored: no argument of the original call can confirm
it or change it, and a plan replaced by a newer one, cancelled or already carried out is refused by its old id.
MCP clients ask the user before a tool call the server marks destructive, which `confirm` is.
"""

from __future__ import annotations

from typing import Any

from tools.context import ToolContext
from tools.pending import confirm_pending, drop_pending, pending_action
from trainer.core.errors import BusyError, UserError

# Added to the description of every tool that speaks of the user's yes, which over MCP is a `confirm` call.
YES_MEANS_CONFIRM = (
    "Over MCP the user's yes is your confirm call with the plan's action_id, made only after the user agreed "
    "(cancel drops the plan)."
)


def next_step(action_id: str) -> str:
    """What the client is told to do with a waiting plan, in place of the chat's "ask them to reply yes"."""
    return (
        f"Nothing has been done yet. Show this plan to the user and ask whether to carry it out; only if they agree, "
        f"call confirm with action_id '{action_id}' (or cancel with it to drop the plan)."
    )


def waiting_notice(action: dict[str, Any]) -> str:
    """The waiting plan in the words the user agrees to (the MCP form of agent/confirmations.pending_notice)."""
    return (
        f"**Waiting for confirmation:** {action['summary']}. Nothing has started; `confirm` with action_id "
        f"`{action['id']}` carries it out, `cancel` drops it."
    )


def new_plan(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """The plan a tool call left waiting, when it is not the one that waited before the call."""
    if after is None or (before is not None and before["id"] == after["id"]):
        return None
    return after


def with_plan(result: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """A tool's result with the plan it stored: its id and what to do with it."""
    return {
        **result,
        "needs_confirmation": True,
        "action_id": action["id"],
        "waiting_plan": {"action_id": action["id"], "kind": action["kind"], "summary": action["summary"]},
        "next_step": next_step(action["id"]),
    }


def confirm(ctx: ToolContext, action_id: str) -> dict[str, Any]:
    """Carry out a plan another tool returned (a training run, a deployment, a deletion, a search, a judge, ...),
    exactly once and exactly as it was shown. Call this only after the user saw that plan and agreed to it.

    Args:
        action_id: The plan's action_id, as the tool that made the plan returned it.
    """
    action = _waiting(ctx, action_id)
    try:
        return confirm_pending(ctx, action["id"])
    except BusyError as error:
        raise BusyError(f"{error} The plan keeps waiting under the same action_id; confirm it again later.") from None
    except UserError as error:
        # Things changed since the plan (the port was taken, the run was deployed): the plan is gone.
        raise UserError(f"{error} Nothing was done.") from None


def cancel(ctx: ToolContext, action_id: str) -> dict[str, Any]:
    """Drop a plan another tool returned, without carrying it out (the user said no).

    Args:
        action_id: The plan's action_id, as the tool that made the plan returned it.
    """
    action = _waiting(ctx, action_id)
    drop_pending(ctx)
    return {"cancelled": True, "action_id": action["id"], "plan": action["summary"], "message": "Nothing was done"}


def _waiting(ctx: ToolContext, action_id: str) -> dict[str, Any]:
    action = pending_action(ctx)
    if action is None or not action_id or action["id"] != action_id.strip():
        raise UserError(
            f"No plan with action_id '{action_id}' is waiting (it was carried out, cancelled or replaced by a newer "
            "plan); ask for the action again to get a new plan and its id."
        )
    return action
