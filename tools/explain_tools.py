"""The tool that answers "why did run 2 beat run 1?": the explanation of a comparison, and its proposed next run
offered as the plan that waits for the user's yes."""

from __future__ import annotations

from typing import Any

from tools.context import ToolContext
from tools.history_tools import plan_like_run
from trainer.core.errors import UserError
from trainer.evaluate.explain import explain_runs


def explain_comparison(ctx: ToolContext, run_ids: list[int] | None = None, propose: bool = True) -> dict[str, Any]:
    """Explain why one run beat another ("why did run 2 beat run 1?", "what made run 3 better?"): the winner by
    the task's ranking metric and by how much, the settings that differ, what the loss curves say (still improving,
    overfitting), per-class F1 changes, the test examples that flipped from wrong to right and back, and one
    proposed next run with its reason. The proposed run becomes the plan that waits for the user's yes (tunechat
    starts it on that reply; you cannot). Returns `plan` when a next run was planned.

    Args:
        run_ids: The two runs to explain, e.g. [1, 2]; one run is set against the newest other run; default this
            chat's two newest runs (else any chat's).
        propose: False to describe the next run without making it the plan that waits.
    """
    ids = list(dict.fromkeys(int(run_id) for run_id in run_ids or []))
    if len(ids) < 2:  # "why is run 3 better?": run 3 against the newest other run
        ids = (ids + [run_id for run_id in reversed(_newest(ctx)) if run_id not in ids])[:2][::-1]
    result = explain_runs(ctx.workspace, ctx.registry, ids)
    proposal = result.get("next_run")
    if propose and proposal and proposal.get("changes"):
        try:
            result["plan"] = plan_like_run(ctx, int(proposal["like_run"]), dict(proposal["changes"]))
        except UserError as error:
            result["notes"].append(f"The next run could not be planned: {error}")
    return result


def _newest(ctx: ToolContext) -> list[int]:
    """Run ids oldest first: this chat's when it has two, else every chat's."""
    mine = ctx.registry.list_runs(ctx.session_id) if ctx.session_id else []
    runs = mine if len(mine) >= 2 else ctx.registry.list_runs()
    if len(runs) < 2:
        raise UserError("Explaining a comparison needs two runs; train another one first, then ask again.")
    return [run["id"] for run in runs]
