"""Follow a Together fine-tuning job into the run folder and the registry, like a local worker would.

The follower process itself (one per run, re-attached when tunechat starts again) is shared by every hosted
backend (trainer/backends/hosted_follow.py); this module is its `-m` entry point for Together runs and its one
poll. Each poll writes events.jsonl, metrics.jsonl (train/valid loss by step, from the job's metrics),
progress.json and the registry status; on success it stores the fine-tuned model's name and evaluates it on the
held-out split through Together's chat completions (the task's own hosted evaluation, as for an OpenAI run).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from trainer.backends import hosted_follow
from trainer.backends.hosted_follow import Provider, finish_success
from trainer.backends.together import NAME
from trainer.backends.together.client import KEY_ENV, make_client, redact
from trainer.backends.together.errors import explained
from trainer.backends.together.record import FILES, read_record, write_progress, write_record
from trainer.core.fileio import atomic_write_text, read_jsonl
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry

FOLLOWER_MODULE = "trainer.backends.together.follow"
# Together's job states in the words every backend reports (trainer/backends/base.py).
STATUSES = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "succeeded",
}
PHASES = {"queued": "loading", "running": "training", "succeeded": "done", "failed": "failed"}
# Debug logging of the client could print request details.
DROPPED_ENV = ("TOGETHER_LOG",)
# What a Together run's status adds from progress.json.
PROGRESS_KEYS = ("valid_loss",)


def tunechat_status(status: Any) -> str:
    return STATUSES.get(str(status or "pending"), "running")


def job_field(job: Any, name: str) -> Any:
    """A job's field by its name in the API's JSON (the client renames some, e.g. model_output_name)."""
    # warnings=False: the client's own model types "batch_size" as a number though the API says "max".
    data = job.to_dict(warnings=False) if hasattr(job, "to_dict") else job.model_dump(by_alias=True, warnings=False)
    return data.get(name)


# ---- one poll -------------------------------------------------------------------------------


def _first(data: dict[str, Any], *names: str) -> float | None:
    return next((float(data[name]) for name in names if isinstance(data.get(name), int | float)), None)


def _metrics_rows(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's metrics as metrics.jsonl rows: step, loss (training) and eval_loss (validation)."""
    rows = []
    for point in points:
        step = _first(point, "global_step", "step")
        if step is None:
            continue
        row: dict[str, Any] = {"step": int(step)}
        loss, valid = _first(point, "train_loss", "loss"), _first(point, "eval_loss", "valid_loss", "validation_loss")
        if loss is not None:
            row["loss"] = loss
        if valid is not None:
            row["eval_loss"] = valid
        if _first(point, "epoch") is not None:
            row["epoch"] = _first(point, "epoch")
        if len(row) > 1:
            rows.append(row)
    return rows


def _record_events(run_dir: Path, events: list[Any]) -> list[str]:
    """Append the events not seen before to events.jsonl; return their messages."""
    seen = {row.get("id") for row in read_jsonl(run_dir / "events.jsonl")}
    new: list[dict[str, Any]] = []
    for event in events:
        data = event.to_dict(warnings=False) if hasattr(event, "to_dict") else dict(event)
        key = hashlib.sha256(json.dumps([data.get("created_at"), data.get("type"), data.get("message")]).encode())
        entry = {
            "id": key.hexdigest()[:16],
            "created_at": data.get("created_at"),
            "level": data.get("level"),
            "type": data.get("type"),
            "message": redact(str(data.get("message") or "")),
        }
        if entry["id"] not in seen:
            seen.add(entry["id"])
            new.append(entry)
    if new:
        with (run_dir / "events.jsonl").open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in new)
    return [str(entry["message"]) for entry in new]


def sync_once(ws: Workspace, registry: Registry, run_id: int, client: Any) -> dict[str, Any]:
    """Read the job, its events and metrics once; record them; return progress."""
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    record = read_record(run_dir)
    job_id = record.get("job_id")
    if not job_id:
        return write_progress(run_dir, phase="loading", job_status=record.get("state", "new"))
    with explained(f"reading job {job_id}"):
        job = client.fine_tuning.retrieve(job_id)
        events = client.fine_tuning.list_events(job_id).data
        points = client.fine_tuning.list_metrics(job_id).metrics or []
    new_messages = _record_events(run_dir, events)
    rows = _metrics_rows(points)
    if rows:
        atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    status = tunechat_status(job.status)
    last: dict[str, Any] = next((row for row in reversed(rows) if "loss" in row), {})
    last_valid: dict[str, Any] = next((row for row in reversed(rows) if "eval_loss" in row), {})
    progress_info = job_field(job, "progress") or {}
    progress = write_progress(
        run_dir,
        phase=PHASES.get(status, status),
        job_status=job.status,
        job_id=job_id,
        step=job_field(job, "steps_completed") or last.get("step"),
        total_steps=job_field(job, "total_steps"),
        epoch=job_field(job, "epochs_completed"),
        loss=last.get("loss"),
        valid_loss=last_valid.get("eval_loss"),
        eta_s=progress_info.get("seconds_remaining") if progress_info.get("estimate_available") else None,
        fine_tuned_model=job_field(job, "model_output_name"),
        trained_tokens=job_field(job, "token_count"),
    )
    if status == "succeeded":
        _finish_success(ws, registry, run_id, run_dir, record, job, client, rows, progress)
    elif status == "failed":
        said = next((m for m in reversed(new_messages) if m), "") or "no reason given"
        reason = (
            f"The Together job {job_id} failed ({said.rstrip('.')}); fix the data or settings it names and start "
            "a new plan."
        )
        write_progress(run_dir, phase="failed", error=reason)
        registry.update_run(run_id, status="failed", error=reason)
    elif status == "cancelled":
        write_progress(run_dir, phase="cancelled")
        registry.update_run(run_id, status="cancelled", error="Cancelled on request.")
    elif run["status"] != status:
        registry.update_run(run_id, status=status)
    progress["new_events"] = new_messages
    return progress


def _finish_success(
    ws: Workspace,
    registry: Registry,
    run_id: int,
    run_dir: Path,
    record: dict[str, Any],
    job: Any,
    client: Any,
    rows: list[dict[str, Any]],
    progress: dict[str, Any],
) -> None:
    tuned = job_field(job, "model_output_name")
    record.update(fine_tuned_model=tuned, state="succeeded", trained_tokens=job_field(job, "token_count"))
    write_record(run_dir, record)
    losses = [row["loss"] for row in rows if "loss" in row]
    metrics: dict[str, Any] = {
        "fine_tuned_model": tuned,
        "job_id": job.id,
        "trained_tokens": job_field(job, "token_count"),
        "final_loss": losses[-1] if losses else None,
        "valid_loss": progress.get("valid_loss"),
    }

    ask = hosted_follow.chat_asker(client, record, explained, "max_tokens")
    finish_success(PROVIDER, registry, run_id, run_dir, record, metrics, ask)


# ---- the follower process (shared by every hosted backend: trainer/backends/hosted_follow.py) ------------

PROVIDER = Provider(
    name=NAME,
    module=FOLLOWER_MODULE,
    key_env=KEY_ENV,
    poll_env="TUNECHAT_TOGETHER_POLL_S",
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
