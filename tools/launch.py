"""The one launch path of every local training plan: the plan the user said yes to is the config started."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.pending import executor
from trainer.backends import local
from trainer.backends.capacity import launch_slot
from trainer.core.errors import UserError
from trainer.core.workspace import resolve_data_path
from trainer.plan.config import resolve_config
from trainer.tasks.registry import get_task
from trainer.tasks.tracking import check_tracker


def launch_plan(
    ctx: ToolContext,
    config: dict[str, Any],
    estimate_seconds: float | None = None,
    registered: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Create and launch a local run from a resolved config: the one launch path of every training plan.
    `registered(run_id)` hears of the run once it is in the registry, before its worker starts (a search records
    its trial's run there, so a search killed at any moment still finds it)."""
    run_config = resolve_config(config)
    check_tracker(run_config.tracker)  # a tracker that is not installed is refused before a run is made
    try:
        data_path: Path | None = resolve_data_path(run_config.data, ctx.workspace.root)
    except UserError:
        data_path = None  # the worker reports a missing file in its own words, as before
    if data_path is not None:
        get_task(run_config.task).check_start(data_path, run_config.to_dict())
    with launch_slot(ctx.workspace, ctx.registry):  # at most TUNECHAT_MAX_RUNS train at once
        run_id = local.create_run(ctx.workspace, ctx.registry, run_config, session_id=ctx.session_id)
        if registered is not None:
            registered(run_id)
        pid = local.launch(ctx.workspace, ctx.registry, run_id)
    return {
        "run_id": run_id,
        "status": "running",
        "pid": pid,
        "config": run_config.to_dict(),
        "estimate_seconds": estimate_seconds,
    }


# The pending-plan kind of a local training plan (the user's "go" or "yes" starts it).
TRAIN = "train"


@executor(TRAIN, options=("go", "use 5 epochs", "no"))
def _start_planned_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The training plan the user agreed to, started exactly as it was shown."""
    return launch_plan(ctx, arguments["config"], arguments.get("estimate_seconds"))
