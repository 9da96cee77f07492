"""Trying the training plan that waits for the user's yes, before it runs for real: a dry run.

A dry run needs no yes of its own (see tools/pending.py): it spends nothing, keeps no model, registers no run
and writes only a scratch folder that it deletes. The plan it tried keeps waiting for the user's "go".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tools.context import ToolContext
from tools.launch import TRAIN
from tools.pending import pending_action, propose_action
from trainer.core.errors import UserError
from trainer.plan.plan import Plan
from trainer.tasks.registry import get_task

# Plans expected to take longer than this (or whose time is unknown before the model loads) offer a dry run.
OFFER_ABOVE_S = 600.0
OFFER = (
    "This run may be long (over 10 minutes, or its time is known only once the model loads): say `dry run` to "
    "try it first. It loads the model, tokenizes every example, runs two steps on the longest ones and reports "
    "the time per step, the peak memory and the projected run time; nothing is registered or kept."
)


def with_dry_run_offer(plan: Plan) -> Plan:
    """The plan with the dry-run offer in its notes when its task has a dry run and the run may be long."""
    task = get_task(str(plan.config["task"]))
    estimate = plan.estimate_seconds
    if not task.dry_runnable or (estimate is not None and estimate <= OFFER_ABOVE_S):
        return plan
    notes = [*plan.extra.get("notes", []), OFFER]
    return replace(plan, extra={**plan.extra, "notes": notes, "dry_run_offered": True})


def dry_run(ctx: ToolContext) -> dict[str, Any]:
    """Try the training plan waiting for the user's yes without starting it: in a separate process it loads the
    model, tokenizes every example (a bad row is named by its line), runs two training steps on the longest
    examples, one evaluation step and one generation, and reports the time per step, the peak memory, the
    projected time of the whole run and any error. Nothing is registered or kept, it needs no yes, and the plan
    keeps waiting for the user's "go" afterwards. Offer it when a plan may take over 10 minutes (or its time is
    unknown); call it when the user asks for a dry run or to try the plan first (call `propose_plan` first when
    no plan waits).
    """
    from trainer.backends.dry_run import dry_run as run_dry

    action = pending_action(ctx, TRAIN)
    if action is None:
        raise UserError(
            "There is no training plan to try yet; ask for one first (e.g. 'fine-tune with lora on this'), "
            "then ask for a dry run."
        )
    try:
        return run_dry(ctx.workspace, action["arguments"]["config"])
    finally:
        # The dry run was about this plan: it keeps waiting for the user's go, also when the dry run was refused
        # (stored again, so this turn keeps it).
        propose_action(ctx, TRAIN, action["arguments"], action["summary"])
