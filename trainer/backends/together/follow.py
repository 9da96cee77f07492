"""Follow a Together fine-tuning job into the run folder and the registry, like a local worker would.

A follower is its own process (`python -m trainer.backends.together.follow RUN_DIR --db DB --run-id N`) in a
new session, so it outlives the chat that started it; a lock file keeps it to one per run. Each poll writes
events.jsonl, metrics.jsonl (train/valid loss by step, from the job's metrics), progress.json and the registry
status; on success it stores the fine-tuned model's name and evaluates it on the held-out split through
Together's chat completions (the task's own hosted evaluation, as for an OpenAI run). When tunechat starts
again, or anyone asks for the status, `ensure_follower` re-attaches a follower to every job still active whose
follower is gone. The API key reaches the follower through its environment only, never its command line.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from trainer.backends.base import RunStatus
from trainer.backends.together import NAME
from trainer.backends.together.client import has_api_key, make_client, redact
from trainer.backends.together.errors import explained
from trainer.backends.together.record import log, read_record, write_progress, write_record
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_text, read_json_object, read_jsonl
from trainer.core.processes import CHILDREN, child_env
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED, Registry
from trainer.tasks.registry import task_of

ACTIVE = ("validating_files", "queued", "running")
DEFAULT_POLL_S = 15.0
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


def poll_seconds() -> float:
    try:
        return float(os.environ.get("TUNECHAT_TOGETHER_POLL_S") or DEFAULT_POLL_S)
    except ValueError:
        return DEFAULT_POLL_S


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
    task = task_of(record)
    if task.hosted_trainable:
        write_progress(run_dir, phase="evaluating")

        def ask(messages: list[dict[str, Any]], *, max_tokens: int = 16, base: bool = False) -> str:
            model = record["model"] if base else record["fine_tuned_model"]
            with explained(f"asking {model} for a test prediction"):
                answer = client.chat.completions.create(
                    model=model, messages=messages, temperature=0, max_tokens=max_tokens
                )
            return str(answer.choices[0].message.content or "")

        try:
            evaluation = task.evaluate_hosted(run_dir, record, ask)
        except UserError as error:
            metrics["evaluation_error"] = str(error)
            log(run_dir, f"evaluation failed: {error}")
        else:
            if evaluation is not None:
                metrics.update(task.summary_metrics(evaluation))
    write_progress(run_dir, phase="done")
    registry.update_run(run_id, status="succeeded", metrics=metrics, error=None)


# ---- the follower process -------------------------------------------------------------------


def follow_forever(run_dir: Path, db_path: Path, run_id: int) -> int:
    """The follower's main loop: poll until the job has finished; one follower per run (a file lock)."""
    registry = Registry(db_path)
    ws = Workspace(run_dir.resolve().parent.parent)
    lock = (run_dir / "follow.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another follower has this run
    registry.update_run(run_id, pid=os.getpid())
    log(run_dir, f"follower {os.getpid()} attached to run {run_id}")
    try:
        client = make_client()
    except UserError as error:
        log(run_dir, str(error))
        return 2
    delay, failures = poll_seconds(), 0
    while True:
        try:
            progress = sync_once(ws, registry, run_id, client)
            failures = 0
            for message in progress.get("new_events", []):
                log(run_dir, f"event: {message}")
        except UserError as error:
            # The client already retried; keep following at a slower pace (the job runs on regardless).
            failures += 1
            log(run_dir, f"poll failed ({failures}): {error}")
            write_progress(run_dir, last_error=str(error))
        except Exception as error:  # noqa: BLE001 - a follower must not die on one odd answer
            failures += 1
            log(run_dir, f"poll failed ({failures}): {type(error).__name__}: {redact(str(error))[:300]}")
        if registry.get_run(run_id)["status"] in FINISHED:
            log(run_dir, f"run {run_id} is {registry.get_run(run_id)['status']}; follower exits")
            return 0
        time.sleep(delay * min(8, 2**failures) if failures else delay)


def follower_alive(pid: int | None) -> bool:
    return bool(pid) and CHILDREN.alive(int(pid or 0), (FOLLOWER_MODULE,))


def ensure_follower(ws: Workspace, registry: Registry, run_id: int) -> int | None:
    """Start a follower for an active Together run that has none; return its pid (None when not needed)."""
    run = registry.get_run(run_id)
    if run.get("backend") != NAME or run["status"] in FINISHED:
        return None
    run_dir = ws.run_dir_of(run)
    if not read_record(run_dir).get("job_id"):
        return None
    if follower_alive(run.get("pid")):
        return int(run["pid"])
    if not has_api_key():
        write_progress(
            run_dir, last_error="TOGETHER_API_KEY is not set, so this job is not followed; set it and ask again."
        )
        return None
    command = [sys.executable, "-m", FOLLOWER_MODULE, str(run_dir), "--db", str(registry.db_path)]
    command += ["--run-id", str(run_id)]
    # The key travels in the environment, never in argv.
    pid = CHILDREN.start(command, log=run_dir / "follow.log", env=child_env(drop=DROPPED_ENV), cwd=run_dir)
    registry.update_run(run_id, pid=pid)
    return pid


def reattach_all(ws: Workspace, registry: Registry) -> list[int]:
    """Re-attach followers to every Together job still active (tunechat was restarted); return the run ids."""
    attached = []
    for run in registry.list_runs():
        if run.get("backend") == NAME and run["status"] in ACTIVE:
            try:
                if ensure_follower(ws, registry, int(run["id"])):
                    attached.append(int(run["id"]))
            except (OSError, UserError):
                continue
    return attached


def status(ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
    """A Together run's registry row merged with progress.json, the latest events and the job record."""
    ensure_follower(ws, registry, run_id)
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    progress = read_json_object(run_dir / "progress.json")
    record = read_record(run_dir)
    extra: dict[str, Any] = {"valid_loss": progress.get("valid_loss"), "job_id": record.get("job_id")}
    extra["fine_tuned_model"] = record.get("fine_tuned_model") or progress.get("fine_tuned_model")
    extra["events"] = read_jsonl(run_dir / "events.jsonl")
    return RunStatus(run, str(run_dir), progress, extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.backends.together.follow")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run-id", type=int, required=True)
    args = parser.parse_args(argv)
    return follow_forever(args.run_dir, args.db, args.run_id)


if __name__ == "__main__":
    sys.exit(main())
