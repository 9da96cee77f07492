"""Confirm a plan: create the run, upload its files, create the OpenAI job exactly once, cancel it.

Exactly once: the run's record (runs/run-<id>/openai_job.json) is written before every step that
costs money and is read first on every attempt. Before the create call it says state "creating"
with a stable idempotency key; the create request carries that key (Idempotency-Key header, the
same on the client's own retries) and the key as job metadata. A later attempt that finds
"creating" without a job id first looks the job up by that metadata, so a crash, a timeout or a
second "yes" never makes a second job for the same run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from trainer.backends import hosted_job
from trainer.backends.base import HostedClosed
from trainer.backends.hosted_common import copy_files, create_hosted_run
from trainer.backends.hosted_job import JobSteps
from trainer.backends.openai import NAME
from trainer.backends.openai.client import endpoint, make_client
from trainer.backends.openai.errors import closed_error, explained
from trainer.backends.openai.follow import PROVIDER
from trainer.backends.openai.models import lookup
from trainer.backends.openai.plan import load_plan, save_plan
from trainer.backends.openai.record import RECORD, read_record, write_record
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED, Registry

METADATA_KEY = "tunechat_run"


def create_openai_run(ws: Workspace, registry: Registry, plan: dict[str, Any], session_id: str | None) -> int:
    """Register the run and fill its folder from the plan; nothing is sent anywhere yet."""

    def fill(run_id: int, run_dir: Path) -> None:
        write_record(
            run_dir,
            {
                "run_id": run_id,
                "plan_id": plan["plan_id"],
                "state": "new",
                "idempotency_key": f"tunechat-{uuid.uuid4().hex}",
                "endpoint": endpoint(),
                "method": plan["method"],
                "model": plan["model"],
                "hyperparameters": plan["hyperparameters"],
                "suffix": plan["suffix"],
                "files": copy_files(plan["files"], run_dir / NAME),
                "task": plan["task"],
                "labels": plan.get("labels"),
                "training_file_id": None,
                "validation_file_id": None,
                "job_id": None,
                "fine_tuned_model": None,
            },
        )

    return create_hosted_run(ws, registry, plan, session_id, NAME, fill)


def _method(record: dict[str, Any]) -> dict[str, Any]:
    hyper = {k: v for k, v in record["hyperparameters"].items() if v is not None}
    kind = record["method"]
    return {"type": kind, kind: {"hyperparameters": hyper}}


def find_existing_job(client: Any, record: dict[str, Any]) -> Any | None:
    """The job an earlier attempt created for this run, found by its metadata, or None."""
    with explained("looking up an earlier fine-tuning job"):
        page = client.fine_tuning.jobs.list(metadata={METADATA_KEY: record["idempotency_key"]}, limit=10)
    for job in page.data:
        if (job.metadata or {}).get(METADATA_KEY) == record["idempotency_key"]:
            return job
    return None


def submit(ws: Workspace, registry: Registry, run_id: int, client: Any | None = None) -> dict[str, Any]:
    """Upload the run's files and create its job, each at most once; return the updated record."""
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    record = read_record(run_dir)
    if not record:
        raise UserError(f"Run {run_id} is not an OpenAI run (it has no {RECORD}); start it with the local backend.")
    if record.get("job_id"):
        return record  # checked first: the job exists, never create another
    if run["status"] == "cancelled" or record.get("state") == "cancelled":
        raise UserError(f"Run {run_id} was cancelled before its job was created; ask for a new plan to start again.")
    if record.get("state") == "refused":
        # OpenAI said this organisation may not fine-tune: asking again would only repeat the refusal.
        raise closed_error(record.get("refused_status") or 403)
    client = client or make_client()
    if not record.get("training_file_id"):
        # The models endpoint's shutdown_date, read before anything is uploaded (and kept for later plans).
        date = lookup(client, ws, record["model"])
        if date and dt.date.fromisoformat(date) <= dt.date.today():
            raise UserError(
                f"OpenAI shut {record['model']} down on {date} (its models endpoint says so), so it cannot be "
                "fine-tuned; nothing was uploaded, so ask for a new plan with another model."
            )
        record["shutdown_date"] = date
    registry.update_run(run_id, status="validating_files", error=None)

    for name, key in (("train", "training_file_id"), ("validation", "validation_file_id")):
        path = Path(record["files"][name])
        if record.get(key) or (name == "validation" and path.stat().st_size == 0):
            continue
        record["state"] = f"uploading {name}"
        write_record(run_dir, record)
        with explained(f"the upload of {path.name}"), path.open("rb") as handle:
            uploaded = client.files.create(file=(f"run-{run_id}-{name}.jsonl", handle), purpose="fine-tune")
        record[key] = uploaded.id
        write_record(run_dir, record)

    if record.get("state") == "creating":
        # An earlier attempt may have created the job and died before writing its id down.
        existing = find_existing_job(client, record)
        if existing is not None:
            return _created(registry, run_id, run_dir, record, existing)
    record["state"] = "creating"
    write_record(run_dir, record)  # written before the create call, on purpose
    arguments: dict[str, Any] = {
        "model": record["model"],
        "training_file": record["training_file_id"],
        "method": _method(record),
        "suffix": record["suffix"] or None,
        "metadata": {METADATA_KEY: record["idempotency_key"], "tunechat_run_id": str(run_id)},
        # The same key on the client's own retries of this request.
        "extra_headers": {"Idempotency-Key": record["idempotency_key"]},
    }
    if record.get("validation_file_id"):
        arguments["validation_file"] = record["validation_file_id"]
    try:
        with explained(f"creating the fine-tuning job for run {run_id}"):
            job = client.fine_tuning.jobs.create(**arguments)
    except HostedClosed as refused:
        record.update(state="refused", refused_status=refused.status)
        write_record(run_dir, record)
        raise
    return _created(registry, run_id, run_dir, record, job)


def _created(registry: Registry, run_id: int, run_dir: Path, record: dict[str, Any], job: Any) -> dict[str, Any]:
    record.update(state="created", job_id=job.id, created_at=job.created_at)
    write_record(run_dir, record)
    registry.update_run(run_id, status=job.status)
    return record


def _cancel_job(client: Any, job_id: str) -> dict[str, Any]:
    with explained(f"cancelling job {job_id}"):
        job = client.fine_tuning.jobs.cancel(job_id)
    return {"status": job.status if job.status in FINISHED else "cancelled"}


# Confirm and cancel are shared by every hosted backend (trainer/backends/hosted_job.py).
STEPS = JobSteps(
    provider_word="OpenAI",
    follower=PROVIDER,
    load_plan=load_plan,
    save_plan=save_plan,
    create_run=create_openai_run,
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
