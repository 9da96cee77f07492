"""Confirming and cancelling a hosted plan, the same for every hosted backend.

What differs between providers (how files are uploaded, how a job is created exactly once, how the provider
is asked to cancel) stays in the backend's own job.py and comes in through `JobSteps`; the order of the steps,
and the records written around them, are shared here so every hosted run is started and stopped alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer.backends.hosted_follow import Provider, ensure_follower
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED, Registry
from trainer.store.runs import RunRecord


@dataclass(frozen=True)
class JobSteps:
    """One hosted backend's own steps, for the shared confirm and cancel."""

    provider_word: str  # the provider as a sentence names it ("the OpenAI job", "the Together job")
    follower: Provider  # the backend's client, run files and follower
    load_plan: Callable[[Workspace, str], dict[str, Any]]
    save_plan: Callable[[Workspace, dict[str, Any]], None]
    # Register the run of a plan and fill its folder (nothing is sent); return its id.
    create_run: Callable[[Workspace, Registry, dict[str, Any], str | None], int]
    # Upload the run's files and create its job, each at most once; return the updated record.
    submit: Callable[[Workspace, Registry, int, Any], dict[str, Any]]
    # Ask the provider to cancel job `job_id`; return the registry changes that say so.
    cancel_job: Callable[[Any, str], dict[str, Any]]


def confirm_plan(
    steps: JobSteps,
    ws: Workspace,
    registry: Registry,
    plan_id: str,
    session_id: str | None,
    client: Any | None,
    follow: bool,
) -> dict[str, Any]:
    """The user said yes: create the run (once per plan), upload, create the job, start following it.

    Called from code that saw the user's own confirmation (guided mode, the CLI prompt, --yes); it is not an
    LLM tool, so a model cannot confirm on the user's behalf.
    """
    plan = steps.load_plan(ws, plan_id)
    client = client or steps.follower.make_client()  # fail on a missing key before a run is created
    run_id = plan.get("run_id")
    if run_id is not None:
        run = registry.get_run(int(run_id))
        record = steps.follower.files.read_record(ws.run_dir_of(run))
        if record.get("job_id") or run["status"] == "cancelled":
            return {"run_id": int(run_id), "job_id": record.get("job_id"), "status": run["status"], "repeated": True}
    else:
        run_id = steps.create_run(ws, registry, plan, session_id)
        plan["run_id"] = run_id
        steps.save_plan(ws, plan)  # a second "yes" finds the run and never makes another
    run_id = int(run_id)
    try:
        record = steps.submit(ws, registry, run_id, client)
    except UserError as error:
        registry.update_run(run_id, status="failed", error=str(error))
        raise
    if follow:
        ensure_follower(steps.follower, ws, registry, run_id)
    run = registry.get_run(run_id)
    return {
        "run_id": run_id,
        "job_id": record["job_id"],
        "status": run["status"],
        "model": record["model"],
        "method": record["method"],
        "training_file_id": record["training_file_id"],
        "validation_file_id": record.get("validation_file_id"),
        "run_dir": str(ws.run_dir_of(run)),
    }


def cancel(steps: JobSteps, ws: Workspace, registry: Registry, run_id: int, client: Any | None) -> RunRecord:
    """Cancel the run's job (or the run itself when no job was created yet); the status ends cancelled."""
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    record = steps.follower.files.read_record(run_dir)
    if run["status"] in FINISHED:
        return run
    if not record.get("job_id"):
        # Recorded so that a later submit of this run (a second "yes") refuses instead of making a job.
        record["state"] = "cancelled"
        steps.follower.files.write_record(run_dir, record)
        registry.update_run(
            run_id, status="cancelled", error=f"Cancelled before the {steps.provider_word} job was created."
        )
        return registry.get_run(run_id)
    client = client or steps.follower.make_client()
    registry.update_run(run_id, **steps.cancel_job(client, record["job_id"]))
    steps.follower.files.write_progress(run_dir, job_status="cancelled", phase="cancelled")
    return registry.get_run(run_id)
