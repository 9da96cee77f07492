"""Hyperparameter search in the chat: plan a search (it waits for a yes, since every trial trains), see its
trials, and take its best settings as the next run.

The search itself runs in its own process (tools/search_driver.py, started through the one child-process table),
so the chat stays responsive; each trial is a run started through tools/launch.py like any other.
"""

from __future__ import annotations

import sys
from typing import Any

from tools.context import ToolContext
from tools.pending import executor, propose_action
from trainer.backends.local import worker_env
from trainer.backends.registry import get_backend
from trainer.core.errors import UserError
from trainer.core.processes import CHILDREN, process_alive
from trainer.search.space import only
from trainer.search.study import check_name, new_name
from trainer.tasks.registry import get_task

# The pending-plan kind of a search (the user's "yes" starts its process).
SEARCH = "search"
# The module the search process runs (how a live one is told from a recycled pid).
DRIVER_MODULE = "tools.search_driver"
# Trials when the user names neither a trial count nor minutes.
DEFAULT_TRIALS = 10
# How long a stopped search gets to stop its running trial (which itself gets PRUNE_GRACE_S) and record it.
STOP_GRACE_S = 30.0
# Where each search process writes its log, under the workspace.
LOGS = "searches"


def search_settings(
    ctx: ToolContext,
    file: str,
    trials: int | None = None,
    minutes: float | None = None,
    params: list[str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """The planned run (the task's plan for the data, with the user's settings), the space its task searches
    (only `params` when named), the metric and the budget: everything a search needs, stored with it."""
    from tools.data_tools import plan_training

    if trials is not None and trials < 1:
        raise UserError(f"A search needs at least one trial, not {trials}; ask for e.g. 10 trials.")
    if minutes is not None and minutes <= 0:
        raise UserError(f"A search needs a positive time budget, not {minutes} minutes; ask for e.g. 15 minutes.")
    plan = plan_training(ctx, file, **settings).to_dict()
    config = plan["config"]
    if get_backend(config.get("backend")).hosted:
        raise UserError("A search trains its trials on this machine; leave out the hosted backend and ask again.")
    task = get_task(config["task"])
    space = only(task.search_space(config), params)
    if not space:
        raise UserError(f"There is nothing to search for {task.title}; train it with a plan instead.")
    metric, direction = task.search_metric
    if trials is None and minutes is None:
        trials = DEFAULT_TRIALS
    return {
        "config": config,
        "space": [param.to_dict() for param in space],
        "trials": trials,
        "minutes": minutes,
        "metric": metric,
        "direction": direction,
        "task": task.name,
        "estimate_seconds": plan.get("estimate_seconds"),
    }


def budget_words(settings: dict[str, Any]) -> str:
    parts = []
    if settings.get("trials") is not None:
        parts.append(f"{settings['trials']} trials")
    if settings.get("minutes") is not None:
        parts.append(f"{settings['minutes']:g} minutes")
    return " or ".join(parts)


def plan_search(
    ctx: ToolContext,
    file: str,
    trials: int | None = None,
    minutes: float | None = None,
    params: list[str] | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Plan a hyperparameter search on a data file: several real training runs (trials) with different settings,
    the median pruner stopping poor ones early, ranked by the task's validation metric. Nothing starts: the plan
    waits for the user's yes ("find the best learning rate", "tune the hyperparameters in 15 minutes").

    Args:
        file: The data file, as listed or uploaded.
        trials: How many trials to finish (default 10 when no minutes are given).
        minutes: A time budget; no new trial starts once the trials have trained this long.
        params: Only these settings, e.g. ["learning_rate"]; default every setting that matters for the task
            (learning rate, epochs, batch size, frozen layers, LoRA rank/alpha, warmup).
        text_column: Column with the input text, if not detected.
        label_column: Column with the label or target, if not detected.
        task: What to train, when not what the data is for.
        model: Base model, when not the task's default.
    """
    settings = search_settings(
        ctx,
        file,
        trials=trials,
        minutes=minutes,
        params=params,
        text_column=text_column,
        label_column=label_column,
        task=task,
        model=model,
    )
    name = new_name(ctx.registry)
    space = ", ".join(param["name"] for param in settings["space"])
    kind = get_task(settings["task"])
    # "eval_macro_f1" reads as the task's own heading ("macro-F1"); a metric the task does not list stays as named.
    spec = kind.metric(str(settings["metric"]).removeprefix("eval_"))
    metric = spec.heading if spec else str(settings["metric"]).removeprefix("eval_").replace("_", " ")
    summary = (
        f"Search {space} on {file} for the best validation {metric}: "
        f"{budget_words(settings)}, each trial a run of {kind.title} ({name})"
    )
    if settings.get("estimate_seconds"):
        summary += f"; the plan's own settings take about {round(float(settings['estimate_seconds']) / 60, 1):g} min"
    proposal = propose_action(ctx, SEARCH, {"name": name, "settings": settings}, summary)
    return {**proposal, "study": name, "budget": budget_words(settings), "space": _space_lines(settings)}


def _space_lines(settings: dict[str, Any]) -> list[str]:
    from trainer.search.space import SearchParam

    return [SearchParam.from_dict(param).describe() for param in settings["space"]]


def driver_alive(study: dict[str, Any]) -> bool:
    return bool(study.get("pid")) and process_alive(int(study["pid"]), (DRIVER_MODULE,))


def start_search(ctx: ToolContext, name: str) -> int:
    """Start the process that runs (or resumes) the search `name`; return its pid."""
    study = ctx.registry.get_study(name)
    if study is None:
        raise UserError(f"There is no search named '{name}'; ask for a search first.")
    if driver_alive(study):
        raise UserError(f"{name} is already running (pid {study['pid']}); say 'search status' to follow it.")
    logs = ctx.workspace.root / LOGS
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", DRIVER_MODULE, str(ctx.workspace.root), name, ctx.session_id or ""]
    pid = CHILDREN.start(command, log=logs / f"{name}.log", env=worker_env(), cwd=ctx.workspace.root)
    ctx.registry.update_study(name, status="running", pid=pid, error=None)
    return pid


@executor(SEARCH, options=("yes", "no"))
def _start_planned_search(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The search the user agreed to, started as shown (a stopped one resumes under its own name)."""
    name = check_name(str(arguments["name"]))
    if ctx.registry.get_study(name) is None:
        ctx.registry.create_study(name, arguments["settings"], session_id=ctx.session_id)
    pid = start_search(ctx, name)
    settings = ctx.registry.get_study(name)["settings"]  # type: ignore[index]
    message = (
        f"started {name} ({budget_words(settings)}) in its own process; each trial shows up as a run, and "
        "**search status** shows its trials and the best so far"
    )
    return {"study": name, "status": "running", "pid": pid, "budget": budget_words(settings), "message": message}


def search_status(ctx: ToolContext, study: str | None = None) -> dict[str, Any]:
    """A search's trials (settings, validation value, state, run), its best trial and a plot of the metric
    against each searched setting. Once the search has finished, its best settings wait as the next run's plan
    (the user's yes starts it).

    Args:
        study: The search's name, e.g. "search-1"; default this chat's newest search.
    """
    from trainer.search.results import summary

    name, row = _study(ctx, study)
    result = summary(ctx.workspace, ctx.registry, name)
    if row["status"] == "running" and not driver_alive(row):
        result["status"] = "interrupted"
        result["next_step"] = "Its process ended before the budget was spent; say 'resume the search' to finish it."
    best = result.get("best")
    if result["status"] == "finished" and best is not None and best.get("run_id") is not None:
        from tools.history_tools import plan_like_run

        result["next_plan"] = plan_like_run(ctx, int(best["run_id"]))
    return result


def resume_search(ctx: ToolContext, study: str | None = None) -> dict[str, Any]:
    """Plan to finish a search whose process was stopped or killed: the trials it still owes, with the same
    settings and budget. Nothing starts until the user says yes.

    Args:
        study: The search's name; default this chat's newest search.
    """
    name, row = _study(ctx, study)
    if driver_alive(row):
        raise UserError(f"{name} is still running; say 'search status' to follow it.")
    if row["status"] == "finished":
        raise UserError(f"{name} has already finished; say 'search status' for its best trial.")
    settings = row["settings"]
    summary = f"Resume {name}: the rest of its {budget_words(settings)}, same settings and space"
    return {**propose_action(ctx, SEARCH, {"name": name, "settings": settings}, summary), "study": name}


def stop_search(ctx: ToolContext, study: str | None = None) -> dict[str, Any]:
    """Stop this chat's running search: its process ends, the trial it was training stops too, and the trials
    already finished stay (say 'resume the search' to finish it later).

    Args:
        study: The search's name; default this chat's newest search.
    """
    name, row = _study(ctx, study)
    if not driver_alive(row):
        raise UserError(f"{name} is not running, so there is nothing to stop; say 'search status' to see it.")
    CHILDREN.terminate(int(row["pid"]), (DRIVER_MODULE,), STOP_GRACE_S)
    if (ctx.registry.get_study(name) or {}).get("status") == "running":  # killed before it could say so
        ctx.registry.update_study(name, status="stopped", pid=None, error="Stopped on request.")
    from trainer.search.results import summary

    return summary(ctx.workspace, ctx.registry, name)


def _study(ctx: ToolContext, study: str | None) -> tuple[str, dict[str, Any]]:
    """The search named `study` (default this chat's newest) and its registry row; a UserError when there is none."""
    name = study or _latest(ctx)
    row = ctx.registry.get_study(name)
    if row is None:
        raise UserError(f"There is no search named '{name}'; say 'list runs' or ask for a search.")
    return name, row


def _latest(ctx: ToolContext) -> str:
    studies = ctx.registry.list_studies(ctx.session_id)
    if not studies:
        raise UserError("This chat has no search yet; say e.g. 'find the best learning rate' to plan one.")
    return str(studies[-1]["name"])
