"""Tools that resolve what the user says about earlier runs: "the run that crashed", "the best run",
"same as last time but 3 epochs".

All runs on this machine are the user's own, so the history spans every chat; a chat's own runs come
first when the user names none ("last time" is this chat's last run). A run started from an earlier one
is only proposed here: it starts when the user says yes (tools/pending.py), in guided and LLM mode alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.launch import launch_plan
from tools.pending import executor, propose_action
from tools.session_files import owns_path
from tools.wording import fmt, label, settings_line
from trainer.backends import runs
from trainer.backends.registry import backend_of
from trainer.core.errors import UserError
from trainer.core.workspace import resolve_data_path
from trainer.store.registry import ACTIVE
from trainer.store.runs import RunRecord
from trainer.tasks.registry import task_of

WHICH = ("latest", "best", "failed", "crashed", "interrupted", "running", "succeeded")


def find_runs(ctx: ToolContext, which: str = "latest") -> dict[str, Any]:
    """Find runs in the run history by what the user calls them: the latest, the best, the one that failed or
    crashed, an interrupted one, the running one, the succeeded ones. Returns the matching runs newest first
    (this chat's runs when it has any that match, else all chats'), and `run_id`, the one meant.

    Args:
        which: latest, best (highest test macro-F1 for classifiers, lowest eval loss for sft/dpo, among succeeded
            runs), failed, crashed (same as failed: ended with an error or its process died), interrupted
            (stopped, killed or failed before finishing: the runs resume_run can continue), running or succeeded.
    """
    which = (which or "latest").strip().lower()
    if which not in WHICH:
        raise UserError(f"'{which}' is not a kind of run I can find; say one of {', '.join(WHICH)}.")
    runs, scope = _matching(ctx, which)
    metric, higher_is_better = None, True
    if which == "best":
        runs, metric = _ranked(runs)
        spec = task_of(runs[0]).metric(metric)
        higher_is_better = spec is None or spec.direction >= 0
    elif not runs:
        raise UserError(_none_message(which))
    return {
        "which": which,
        "scope": scope,
        "run_id": runs[0]["id"],
        "metric": metric,
        "higher_is_better": higher_is_better,
        "runs": [_summary(ctx, run, metric) for run in runs[:10]],
    }


def plan_like_run(ctx: ToolContext, run_id: int | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan a new run with an earlier run's settings and the changes the user asked for ("same as last time but
    3 epochs", "again with lr 1e-4"). Nothing starts: the plan waits for the user's yes, and tunechat itself
    starts the run on that reply (you cannot, and do not call start_training for it).

    Args:
        run_id: The earlier run to copy; default this chat's newest run.
        changes: Settings to change, e.g. {"epochs": 3, "learning_rate": 0.0001}; keys as in start_training.
    """
    from tools.validation import checked_changes
    from trainer.plan.config import resolve_config

    run = ctx.registry.get_run(run_id) if run_id is not None else _latest(ctx)
    hint = backend_of(run).replan_hint(run)
    if hint:
        raise UserError(hint)
    config = dict(run["config"])
    try:
        data = resolve_data_path(str(config.get("data", "")), ctx.workspace.root)
    except UserError:
        name = Path(str(config.get("data", ""))).name
        raise UserError(f"The data of run {run['id']} ('{name}') is gone; upload it again and say 'train'.") from None
    if data.resolve().is_relative_to(ctx.workspace.root.resolve()) and not owns_path(ctx, data):
        raise UserError(
            f"Run {run['id']} was trained in another chat on '{data.name}', which this chat cannot see; "
            "upload the file here, or continue in that chat."
        )
    new = resolve_config(config, checked_changes(ctx, changes)).to_dict()
    changed = {key: {"from": config.get(key), "to": new[key]} for key in new if new[key] != config.get(key)}
    estimate = _estimate_seconds(run, config, new)
    summary = f"Start a new run like run {run['id']}" + (
        " with " + ", ".join(f"{label(k)} {fmt(v['to'])} (was {fmt(v['from'])})" for k, v in changed.items())
        if changed
        else " with the same settings"
    )
    summary += f": {settings_line(new)} on {data.name}"
    proposal = propose_action(
        ctx, "rerun", {"config": new, "like_run": run["id"], "estimate_seconds": estimate}, summary
    )
    return {**proposal, "like_run": run["id"], "config": new, "changes": changed, "estimate_seconds": estimate}


def resume_run(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Propose continuing an interrupted run (stopped, killed or crashed) from its newest complete checkpoint: sft
    and dpo runs continue where they stopped; a text classifier keeps no resumable checkpoint, so for it the plan
    trains it again from the beginning. Either plan waits for the user's yes, which tunechat handles (you cannot).

    Args:
        run_id: The run to continue; default this chat's newest interrupted run (else the newest of any chat).
    """
    if run_id is None:
        run_id = find_runs(ctx, "interrupted")["run_id"]
    status = runs.run_status(ctx.workspace, ctx.registry, run_id)  # marks a silently killed run failed
    hint = backend_of(status).replan_hint(status)
    if hint:
        raise UserError(hint)
    if status["status"] == "succeeded":
        raise UserError(f"Run {run_id} already finished successfully; there is nothing to resume.")
    if status["status"] in ACTIVE:
        raise UserError(f"Run {run_id} is still {status['status']}; say 'status' to follow it.")
    task = task_of(status["config"])
    if not task.resumable:
        plan = plan_like_run(ctx, run_id)
        plan["restart"] = True
        plan["message"] = (
            f"Run {run_id} is a {task.name} run, whose checkpoints keep no optimizer state, so it cannot continue "
            f"where it stopped; I can train it again from the beginning with the same settings."
        )
        return plan
    checkpoint = task.resume_step(Path(status["run_dir"]))
    step = checkpoint or 0
    where = f"from its checkpoint at step {step}" if checkpoint else "from the beginning (it saved no checkpoint)"
    summary = f"Resume run {run_id} ({status['status']}) {where}"
    plan = propose_action(ctx, RESUME, {"run_id": run_id, "step": step, "where": where}, summary)
    plan["message"] = f"Run {run_id} can continue {where}; nothing runs until you say yes."
    return plan


# The pending-plan kind of continuing an interrupted run.
RESUME = "resume"


@executor(RESUME)
def _resume(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The user said yes: relaunch the run from its newest complete checkpoint."""
    run_id = int(arguments["run_id"])
    pid = runs.resume_run(ctx.workspace, ctx.registry, run_id)
    return {
        "run_id": run_id,
        "status": "running",
        "pid": pid,
        "resumed_from_step": arguments.get("step", 0),
        "message": f"Resumed run {run_id} {arguments.get('where', '')}; say 'status' to follow it.",
    }


@executor("rerun")
def _start_rerun(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Carries out a confirmed plan_like_run (or a classifier's restart)."""
    result = launch_plan(ctx, arguments["config"], arguments.get("estimate_seconds"))
    return {
        **result,
        "message": f"Started run {result['run_id']} like run {arguments.get('like_run')} in the background; "
        "say 'status' to follow it",
    }


# ---- choosing ----------------------------------------------------------------------------------------


def _refreshed(ctx: ToolContext, session_id: str | None) -> list[RunRecord]:
    """Runs newest first; an active run is brought up to date first (a dead local worker marks it failed)."""
    return list(reversed(runs.refreshed_runs(ctx.workspace, ctx.registry, session_id)))


def _wanted(run: Mapping[str, Any], which: str) -> bool:
    status = run["status"]
    if which in ("failed", "crashed"):
        return status == "failed"
    if which == "interrupted":
        return status in ("failed", "cancelled")
    if which == "running":
        return status in ACTIVE
    if which in ("succeeded", "best"):
        return status == "succeeded"
    return True


def _matching(ctx: ToolContext, which: str) -> tuple[list[RunRecord], str]:
    if ctx.session_id:
        mine = [run for run in _refreshed(ctx, ctx.session_id) if _wanted(run, which)]
        if mine and which != "best":
            return mine, "this chat"
    return [run for run in _refreshed(ctx, None) if _wanted(run, which)], "all chats"


def _metric(run: Mapping[str, Any]) -> tuple[str, float] | None:
    """(metric name, value) by which a succeeded run is ranked (its task's rank metric), or None without it."""
    name = task_of(run).rank_metric
    value = (run.get("metrics") or {}).get(name)
    return (name, float(value)) if isinstance(value, int | float) else None


def _ranked(runs: list[RunRecord]) -> tuple[list[RunRecord], str]:
    """The succeeded runs ranked by one metric, best first: the rank metric of the newest scored run's task
    (classifiers by macro-F1, higher is better; language models by eval loss, lower is better). Runs ranked by
    another metric are left out: their numbers do not compare."""
    scored = [run for run in runs if _metric(run) is not None]
    if not scored:
        raise UserError(
            "No succeeded run has test metrics to compare yet; train one to the end, then ask for the best."
        )
    task = task_of(scored[0])
    name = task.rank_metric
    same = [run for run in scored if task_of(run).rank_metric == name]
    spec = task.metric(name)
    higher_is_better = spec is None or spec.direction >= 0
    same.sort(key=lambda run: (_metric(run) or ("", 0.0))[1], reverse=higher_is_better)
    return same, name


def _latest(ctx: ToolContext) -> RunRecord:
    return ctx.registry.get_run(find_runs(ctx, "latest")["run_id"])


def _none_message(which: str) -> str:
    if which == "latest":
        return "There are no runs yet; upload a data file and say 'train' to start one."
    if which == "running":
        return "No run is training right now; say 'list runs' to see earlier runs."
    return f"No run has {which} so far; say 'list runs' to see every run and its status."


def _summary(ctx: ToolContext, run: Mapping[str, Any], metric: str | None) -> dict[str, Any]:
    config = run.get("config") or {}
    summary = {
        "id": run["id"],
        "status": run["status"],
        "task": run["task"],
        "model": Path(str(run["model"])).name,
        "data": Path(str(run["data"])).name,
        "epochs": config.get("epochs"),
        "learning_rate": config.get("learning_rate"),
        "created_at": run["created_at"],
        "this_chat": bool(ctx.session_id) and run.get("session_id") == ctx.session_id,
        "error": (run.get("error") or "")[:300] or None,
    }
    if metric:
        summary[metric] = (_metric(run) or ("", None))[1]
    return summary


# ---- wording -----------------------------------------------------------------------------------------


def _estimate_seconds(run: Mapping[str, Any], old: dict[str, Any], new: dict[str, Any]) -> float | None:
    """The earlier run's time, scaled by the change in epochs (or steps): a plain, honest guess."""
    if run["status"] != "succeeded":
        return None
    elapsed = float(run["updated_at"]) - float(run["created_at"])
    scale = 1.0
    for key in ("max_steps", "epochs"):
        if old.get(key) and new.get(key):
            scale = float(new[key]) / float(old[key])
            break
    return round(elapsed * scale, 1)
