"""Follow an OpenAI fine-tuning job into the run folder and the registry, like a local worker would.

The follower process itself (one per run, re-attached when tunechat starts again) is shared by every hosted
backend (trainer/backends/hosted_follow.py); this module is its `-m` entry point for OpenAI runs and its one
poll. Each poll writes events.jsonl, metrics.jsonl (train/valid loss, token accuracy), progress.json,
checkpoints.json and the registry status; on success it stores the fine-tuned model id and evaluates it on
the held-out test split.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from trainer.backends import hosted_follow
from trainer.backends.hosted_follow import Provider, finish_success
from trainer.backends.openai import NAME
from trainer.backends.openai.client import KEY_ENV, make_client, redact
from trainer.backends.openai.errors import explained
from trainer.backends.openai.record import FILES, read_record, write_progress, write_record
from trainer.core.fileio import atomic_write_json, read_jsonl
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry

PHASES = {"validating_files": "loading", "queued": "loading", "running": "training", "succeeded": "done"}
FOLLOWER_MODULE = "trainer.backends.openai.follow"
# Environment a follower must not inherit: debug logging of the client could print request details.
DROPPED_ENV = ("OPENAI_LOG",)
# What an OpenAI run's status adds from progress.json.
PROGRESS_KEYS = ("valid_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy", "checkpoints")


# ---- one poll -------------------------------------------------------------------------------


def _metrics_row(data: dict[str, Any], created_at: int, started: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {"step": int(data.get("step") or 0), "total_steps": data.get("total_steps")}
    if data.get("train_loss") is not None:
        row["loss"] = float(data["train_loss"])
    if data.get("train_mean_token_accuracy") is not None:
        row["train_mean_token_accuracy"] = float(data["train_mean_token_accuracy"])
    for source, target in (("valid_loss", "eval_loss"), ("full_valid_loss", "eval_loss")):
        if data.get(source) is not None:
            row[target] = float(data[source])
    for source in ("valid_mean_token_accuracy", "full_valid_mean_token_accuracy"):
        if data.get(source) is not None:
            row["valid_mean_token_accuracy"] = float(data[source])
    if started:
        row["elapsed_s"] = max(0, created_at - started)
    return row


def sync_once(ws: Workspace, registry: Registry, run_id: int, client: Any) -> dict[str, Any]:
    """Read the job, its new events, metrics and checkpoints once; record them; return progress."""
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    record = read_record(run_dir)
    job_id = record.get("job_id")
    if not job_id:
        return write_progress(run_dir, phase="loading", job_status=record.get("state", "new"))
    with explained(f"reading job {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data

    seen = {row.get("id") for row in read_jsonl(run_dir / "events.jsonl")}
    new_events = [event for event in reversed(events) if event.id not in seen]  # the API lists newest first
    started = record.get("started_at") or job.created_at
    if new_events:
        with (run_dir / "events.jsonl").open("a", encoding="utf-8") as handle:
            for event in new_events:
                entry = {
                    "id": event.id,
                    "created_at": event.created_at,
                    "level": event.level,
                    "type": event.type,
                    "message": redact(event.message),
                }
                handle.write(_json(entry) + "\n")
        metrics = [
            _metrics_row(dict(event.data or {}), event.created_at, started)
            for event in new_events
            if event.type == "metrics" and isinstance(event.data, dict)
        ]
        if metrics:
            with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as handle:
                handle.writelines(_json(row) + "\n" for row in metrics)

    checkpoints: list[dict[str, Any]] = []
    if job.status in ("running", "succeeded"):
        with explained(f"listing the checkpoints of job {job_id}"):
            page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=50)
        checkpoints = [
            {
                "id": c.id,
                "step_number": c.step_number,
                "fine_tuned_model_checkpoint": c.fine_tuned_model_checkpoint,
                "metrics": c.metrics.model_dump(exclude_none=True),
            }
            for c in page.data
        ]
        atomic_write_json(run_dir / "checkpoints.json", checkpoints)

    log_rows = read_jsonl(run_dir / "metrics.jsonl")
    last = log_rows[-1] if log_rows else {}
    last_valid: dict[str, Any] = next((row for row in reversed(log_rows) if "eval_loss" in row), {})
    progress = write_progress(
        run_dir,
        phase=PHASES.get(job.status, "failed" if job.status == "failed" else job.status),
        job_status=job.status,
        job_id=job_id,
        step=last.get("step"),
        total_steps=last.get("total_steps"),
        loss=last.get("loss"),
        train_mean_token_accuracy=last.get("train_mean_token_accuracy"),
        valid_loss=last_valid.get("eval_loss"),
        valid_mean_token_accuracy=last_valid.get("valid_mean_token_accuracy"),
        elapsed_s=max(0, int(time.time()) - job.created_at),
        eta_s=max(0, job.estimated_finish - int(time.time())) if job.estimated_finish else None,
        checkpoints=len(checkpoints),
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
    )

    if job.status == "succeeded":
        _finish_success(ws, registry, run_id, run_dir, record, job, client, log_rows, progress)
    elif job.status == "failed":
        code = job.error.code if job.error else "unknown"
        said = redact(job.error.message) if job.error else "no reason given"
        reason = (
            f"The OpenAI job {job_id} failed ({code}: {said.rstrip('.')}); "
            "fix the data or settings it names and start a new plan."
        )
        write_progress(run_dir, phase="failed", error=reason)
        registry.update_run(run_id, status="failed", error=reason)
    elif job.status == "cancelled":
        write_progress(run_dir, phase="cancelled")
        registry.update_run(run_id, status="cancelled", error="Cancelled on request.")
    elif run["status"] != job.status:
        registry.update_run(run_id, status=job.status)
    progress["new_events"] = [e.message for e in new_events]
    return progress


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=str)


def _finish_success(
    ws: Workspace,
    registry: Registry,
    run_id: int,
    run_dir: Path,
    record: dict[str, Any],
    job: Any,
    client: Any,
    log_rows: list[dict[str, Any]],
    progress: dict[str, Any],
) -> None:
    record.update(fine_tuned_model=job.fine_tuned_model, state="succeeded", trained_tokens=job.trained_tokens)
    write_record(run_dir, record)
    losses = [row["loss"] for row in log_rows if "loss" in row]
    metrics: dict[str, Any] = {
        "fine_tuned_model": job.fine_tuned_model,
        "job_id": job.id,
        "trained_tokens": job.trained_tokens,
        "final_loss": losses[-1] if losses else None,
        "valid_loss": progress.get("valid_loss"),
        "valid_mean_token_accuracy": progress.get("valid_mean_token_accuracy"),
        "train_mean_token_accuracy": progress.get("train_mean_token_accuracy"),
        "train_seconds": (job.finished_at - job.created_at) if job.finished_at else None,
    }

    ask = hosted_follow.chat_asker(client, record, explained, "max_completion_tokens")
    finish_success(PROVIDER, registry, run_id, run_dir, record, metrics, ask)


# ---- the follower process (shared by every hosted backend: trainer/backends/hosted_follow.py) ------------

PROVIDER = Provider(
    name=NAME,
    module=FOLLOWER_MODULE,
    key_env=KEY_ENV,
    poll_env="TUNECHAT_OPENAI_POLL_S",
    dropped_env=DROPPED_ENV,
    make_client=make_client,
    files=FILES,
    progress_keys=PROGRESS_KEYS,
    sync_once=sync_once,
)


def follower_alive(pid: int | None) -> bool:
    return hosted_follow.follower_alive(PROVIDER, pid)


if __name__ == "__main__":
    sys.exit(hosted_follow.main(PROVIDER))
