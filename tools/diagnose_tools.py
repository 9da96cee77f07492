"""Tools that explain why a run failed and relaunch it with a fixed config, after the user's yes.

`relaunch_run` never starts anything: it stores the relaunch as the chat's pending action (tools/pending.py),
and the executor below runs it only when code saw the user's own confirmation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.history_tools import find_runs
from tools.hosted_tools import plan_hosted_job
from tools.launch import launch_plan
from tools.pending import executor, propose_action
from tools.validation import checked_changes
from trainer.backends.registry import get_backend
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from trainer.evaluate.diagnosis import diagnose_run as diagnose_run_record
from trainer.plan.config import resolve_config

RELAUNCH_RECORD = "relaunch.json"


def _newest_failed(ctx: ToolContext) -> int:
    """This chat's newest failed (or stopped) run, else the newest one anywhere (as find_runs picks it)."""
    try:
        return int(find_runs(ctx, "interrupted")["run_id"])
    except UserError:
        raise UserError("No run has failed or been stopped; there is nothing to diagnose.") from None


def diagnose_run(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Explain why a run failed (out of memory, NaN loss, a data-format error, a missing package, a cancelled or
    failed OpenAI job, an interruption) from its record, quote the log or error line it is based on, and propose
    a changed config with a reason per change. Starts nothing.

    Args:
        run_id: The failed run; default this chat's newest failed run.
    """
    return diagnose_run_record(ctx.workspace, ctx.registry, run_id if run_id is not None else _newest_failed(ctx))


def relaunch_run(ctx: ToolContext, run_id: int | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Propose a new run that replaces a failed one, with the diagnosis's fixes (and any changes the user asked
    for). Nothing starts until the user replies yes to the plan; tunechat handles that reply itself.

    Args:
        run_id: The failed run to relaunch; default this chat's newest failed run.
        changes: Extra settings the user asked for, e.g. {"epochs": 2}; they override the proposed fixes.
    """
    run_id = run_id if run_id is not None else _newest_failed(ctx)
    run = ctx.registry.get_run(run_id)
    owner = run.get("session_id")
    if ctx.session_id and owner and owner != ctx.session_id:
        # A chat relaunches only its own runs: another chat's run trains on that chat's files.
        raise UserError(f"Run {run_id} belongs to another chat; relaunch it from there, or start a new run here.")
    diagnosis = diagnose_run_record(ctx.workspace, ctx.registry, run_id)
    if not diagnosis["can_relaunch"] and not changes:
        raise UserError(f"{diagnosis['explanation']} So run {run_id} is not relaunched as it is.")
    if get_backend(diagnosis["backend"]).hosted:
        return _hosted_replan(ctx, run_id, run["config"], diagnosis)
    old = run["config"]
    new_config = resolve_config(old, diagnosis["changes"], checked_changes(ctx, changes)).to_dict()
    changed = {key: value for key, value in new_config.items() if old.get(key) != value}
    described = ", ".join(f"{key} {old.get(key)} → {value}" for key, value in changed.items()) or "the same settings"
    summary = f"Relaunch run {run_id} ({diagnosis['cause'].replace('_', ' ')}) as a new run with {described}"
    plan = propose_action(
        ctx,
        "relaunch",
        {"from_run": run_id, "config": new_config, "cause": diagnosis["cause"], "changes": changed},
        summary,
    )
    plan["changes"] = changed
    plan["reasons"] = {key: diagnosis["reasons"].get(key, "you asked for it") for key in changed}
    return plan


def _hosted_replan(ctx: ToolContext, run_id: int, config: dict[str, Any], diagnosis: dict[str, Any]) -> dict[str, Any]:
    """A cancelled hosted job is relaunched as a new plan (with its cost); "go" to that plan starts the job.
    plan_hosted_job drops any other waiting plan, so the user's yes means this one."""

    data = Path(str(config.get("data", "")))
    if data.is_absolute():
        try:
            data = data.relative_to(ctx.workspace.root)
        except ValueError:
            raise UserError(f"Run {run_id}'s data file is outside the workspace; upload it again.") from None
    plan = plan_hosted_job(
        ctx,
        str(data),
        str(config.get("backend")),
        model=config.get("model"),
        suffix=config.get("suffix") or None,
        text_column=config.get("text_column") or None,
        label_column=config.get("label_column") or None,
    )
    plan["relaunch_of"] = run_id
    plan["cause"] = diagnosis["cause"]
    return plan


@executor("relaunch")
def execute_relaunch(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The user said yes: create and start the new run, and record in its folder which run it replaces."""
    result = launch_plan(ctx, arguments["config"])
    record = {
        "replaces": arguments["from_run"],
        "cause": arguments.get("cause"),
        "changes": arguments.get("changes", {}),
    }
    atomic_write_json(ctx.workspace.run_dir(result["run_id"]) / RELAUNCH_RECORD, record)
    return {
        **result,
        "replaces": arguments["from_run"],
        "changes": record["changes"],
        "message": f"Started run {result['run_id']}, replacing run {arguments['from_run']}",
    }
