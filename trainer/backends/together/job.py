"""Confirm a plan: create the run, upload its files, create the Together job exactly once, cancel it.

Exactly once: the run's record (runs/run-<id>/together_job.json) is written before every step that costs money
and read first on every attempt. Together's API takes no idempotency key, so the job is made recognisable
instead: its training file is this run's own upload and its suffix names the run ("<file>-run<id>"). Before
every try of the create call (and on every later attempt that finds the record in state "creating"), the jobs
list is searched for that pair; the create call itself goes out with the client's retries turned off, since
a retry of a request whose answer was lost (a 500 after the job was made, a timeout) would make a second job.
Our own tries are spaced like the client's (exponential backoff).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainer.backends import hosted_job
from trainer.backends.hosted_common import copy_files, create_hosted_run
from trainer.backends.hosted_job import JobSteps
from trainer.backends.together import NAME
from trainer.backends.together.client import endpoint, make_client
from trainer.backends.together.errors import explain, explained
from trainer.backends.together.follow import PROVIDER, job_field, tunechat_status
from trainer.backends.together.plan import load_plan, save_plan
from trainer.backends.together.record import read_record, write_record
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry

CREATE_TRIES = 4
FIRST_DELAY_S = 0.5


def create_together_run(ws: Workspace, registry: Registry, plan: dict[str, Any], session_id: str | None) -> int:
    """Register the run and fill its folder from the plan; nothing is sent anywhere yet."""

    def fill(run_id: int, run_dir: Path) -> None:
        write_record(
            run_dir,
            {
                "run_id": run_id,
                "plan_id": plan["plan_id"],
                "state": "new",
                "endpoint": endpoint(),
                "method": plan["method"],
                "training_method": plan["training_method"],
                "model": plan["model"],
                "hyperparameters": plan["hyperparameters"],
                "suffix": f"{plan['suffix'][:32]}-run{run_id}",
                "files": copy_files(plan["files"], run_dir / NAME),
                "upload": copy_files(plan["upload"], run_dir / NAME / "upload"),
                "task": plan["task"],
                "labels": plan.get("labels"),
                "training_file_id": None,
                "validation_file_id": None,
                "job_id": None,
                "fine_tuned_model": None,
            },
        )

    return create_hosted_run(ws, registry, plan, session_id, NAME, fill)


def find_existing_job(client: Any, record: dict[str, Any]) -> Any | None:
    """The job an earlier try created for this run (its own training file and suffix), or None."""
    with explained("looking up an earlier fine-tuning job"):
        jobs = client.fine_tuning.list().data
    for job in jobs:
        if job.training_file == record["training_file_id"] and job_field(job, "suffix") == record["suffix"]:
            return job
    return None


def _create_arguments(record: dict[str, Any]) -> dict[str, Any]:
    hyper = record["hyperparameters"]
    arguments: dict[str, Any] = {
        "model": record["model"],
        "training_file": record["training_file_id"],
        "n_epochs": int(hyper["n_epochs"]),
        "learning_rate": float(hyper["learning_rate"]),
        "batch_size": hyper["batch_size"],
        "lora": hyper["training_type"] == "lora",
        "suffix": record["suffix"],
        "training_method": record["training_method"],
    }
    if record["training_method"] == "sft":
        arguments["train_on_inputs"] = "auto"  # the API's default, said outright (the client warns otherwise)
    if record.get("validation_file_id"):
        arguments.update(validation_file=record["validation_file_id"], n_evals=int(hyper.get("n_evals") or 1))
    return arguments


def _create_once(client: Any, record: dict[str, Any], run_id: int) -> Any:
    """Look for an earlier job, else create one (no client retries); our own tries after a lost answer."""
    import together

    doing = f"creating the fine-tuning job for run {run_id}"
    once = client.with_options(max_retries=0)
    delay, last = FIRST_DELAY_S, None
    for attempt in range(CREATE_TRIES):
        if attempt:
            time.sleep(delay)
            delay = min(8.0, delay * 2)
        existing = find_existing_job(client, record)
        if existing is not None:
            return existing
        try:
            return once.fine_tuning.create(**_create_arguments(record))
        except (together.APIConnectionError, together.RateLimitError, together.InternalServerError) as error:
            last = error  # the job may exist all the same: the next try looks for it first
        except (together.TogetherError, ValueError) as error:
            raise explain(error, doing) from None
    raise explain(last or RuntimeError("no answer"), doing)


def submit(ws: Workspace, registry: Registry, run_id: int, client: Any | None = None) -> dict[str, Any]:
    """Upload the run's files and create its job, each at most once; return the updated record."""
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    record = read_record(run_dir)
    if not record:
        raise UserError(f"Run {run_id} is not a Together run (it has no job record); start it with its own backend.")
    if record.get("job_id"):
        return record  # checked first: the job exists, never create another
    if run["status"] == "cancelled" or record.get("state") == "cancelled":
        raise UserError(f"Run {run_id} was cancelled before its job was created; ask for a new plan to start again.")
    client = client or make_client()
    registry.update_run(run_id, status="validating_files", error=None)
    for name, key in (("train", "training_file_id"), ("validation", "validation_file_id")):
        path = Path(record["upload"][name])
        if record.get(key) or (name == "validation" and path.stat().st_size == 0):
            continue
        record["state"] = f"uploading {name}"
        write_record(run_dir, record)
        # check=False: the plan already ran the client's format check on these very files.
        with explained(f"the upload of the {name} file"):
            uploaded = client.files.upload(file=path, purpose="fine-tune", check=False)
        record[key] = uploaded.id
        write_record(run_dir, record)
    record["state"] = "creating"
    write_record(run_dir, record)  # written before the create call, on purpose
    job = _create_once(client, record, run_id)
    record.update(state="created", job_id=job.id, created_at=str(job_field(job, "created_at") or ""))
    write_record(run_dir, record)
    registry.update_run(run_id, status=tunechat_status(job_field(job, "status")))
    return record


def _cancel_job(client: Any, job_id: str) -> dict[str, Any]:
    with explained(f"cancelling job {job_id}"):
        client.fine_tuning.cancel(job_id)
    return {"status": "cancelled", "error": "Cancelled on request."}


# Confirm and cancel are shared by every hosted backend (trainer/backends/hosted_job.py).
STEPS = JobSteps(
    provider_word="Together",
    follower=PROVIDER,
    load_plan=load_plan,
    save_plan=save_plan,
    create_run=create_together_run,
    submit=submit,
    cancel_job=_cancel_job,
)


def confirm_plan(
    ws: Workspace,
    registry: Registry,
    plan_id: str,
    session_id: str | None = None,
    client: Any | None = None,
    follow: bool = True,
) -> dict[str, Any]:
    """The user said yes: create the run (once per plan), upload, create the job, start following it."""
    return hosted_job.confirm_plan(STEPS, ws, registry, plan_id, session_id, client, follow)
