"""The follower process every hosted backend runs: one per run, polling its provider until the job has finished.

A follower is its own process (`python -m trainer.backends.<name>.follow RUN_DIR --db DB --run-id N`) in a new
session, so it outlives the chat that started it; a lock file keeps it to one per run. What it does on each poll
is the backend's own (`Provider.sync_once`); starting, re-attaching and recognising the process is the same for
every backend, so it lives here once. The `-m` module stays the backend's own, so a process list says which
provider a follower serves. The API key reaches the follower through its environment only, never its command line.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.backends.base import RunStatus
from trainer.backends.hosted_client import env_number
from trainer.backends.hosted_common import RunFiles
from trainer.core.errors import UserError
from trainer.core.fileio import read_json_object, read_jsonl
from trainer.core.processes import CHILDREN, child_env
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED, Registry
from trainer.tasks.registry import task_of

# The registry statuses in which a hosted job still runs on the provider's side and wants a follower.
ACTIVE = ("validating_files", "queued", "running")
DEFAULT_POLL_S = 15.0


@dataclass(frozen=True)
class Provider:
    """What one hosted backend gives the shared follower: its names, its client and its one poll."""

    name: str  # the backend's name in the registry
    module: str  # the follower's `-m` module, the backend's own follow.py
    key_env: str  # the environment variable holding the API key, named when it is missing
    poll_env: str  # the environment variable that overrides the seconds between polls
    dropped_env: tuple[str, ...]  # environment the follower must not inherit (e.g. the client's debug logging)
    make_client: Callable[[], Any]
    files: RunFiles  # the run folder's job record, progress.json and follow.log (with the key redacted)
    progress_keys: tuple[str, ...]  # what the run's status adds from progress.json
    # Poll the job once, record what is new and return the progress (with "new_events", the new messages).
    sync_once: Callable[[Workspace, Registry, int, Any], dict[str, Any]]


def poll_seconds(provider: Provider) -> float:
    return env_number(provider.poll_env, DEFAULT_POLL_S)


def follow_forever(provider: Provider, run_dir: Path, db_path: Path, run_id: int) -> int:
    """The follower's main loop: poll until the job has finished; one follower per run (a file lock)."""
    registry = Registry(db_path)
    ws = Workspace(run_dir.resolve().parent.parent)
    lock = (run_dir / "follow.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another follower has this run
    registry.update_run(run_id, pid=os.getpid())
    provider.files.log(run_dir, f"follower {os.getpid()} attached to run {run_id}")
    try:
        client = provider.make_client()
    except UserError as error:
        provider.files.log(run_dir, str(error))
        return 2
    delay, failures = poll_seconds(provider), 0
    while True:
        try:
            progress = provider.sync_once(ws, registry, run_id, client)
            failures = 0
            for message in progress.get("new_events", []):
                provider.files.log(run_dir, f"event: {message}")
        except UserError as error:
            # The client already retried; keep following at a slower pace (the job runs on regardless).
            failures += 1
            provider.files.log(run_dir, f"poll failed ({failures}): {error}")
            provider.files.write_progress(run_dir, last_error=str(error))
        except Exception as error:  # noqa: BLE001 - a follower must not die on one odd answer
            failures += 1
            said = provider.files.redact(str(error))[:300]
            provider.files.log(run_dir, f"poll failed ({failures}): {type(error).__name__}: {said}")
        if registry.get_run(run_id)["status"] in FINISHED:
            provider.files.log(run_dir, f"run {run_id} is {registry.get_run(run_id)['status']}; follower exits")
            return 0
        time.sleep(delay * min(8, 2**failures) if failures else delay)


def follower_alive(provider: Provider, pid: int | None) -> bool:
    """Whether `pid` is a live follower of this backend (not a reused pid of some other process)."""
    return bool(pid) and CHILDREN.alive(int(pid or 0), (provider.module,))


def ensure_follower(provider: Provider, ws: Workspace, registry: Registry, run_id: int) -> int | None:
    """Start a follower for an active run of this backend that has none; return its pid (None when not needed)."""
    run = registry.get_run(run_id)
    if run.get("backend") != provider.name or run["status"] in FINISHED:
        return None
    run_dir = ws.run_dir_of(run)
    if not provider.files.read_record(run_dir).get("job_id"):
        return None
    if follower_alive(provider, run.get("pid")):
        return int(run["pid"])
    if not os.environ.get(provider.key_env):
        provider.files.write_progress(
            run_dir, last_error=f"{provider.key_env} is not set, so this job is not followed; set it and ask again."
        )
        return None
    command = [sys.executable, "-m", provider.module, str(run_dir), "--db", str(registry.db_path)]
    command += ["--run-id", str(run_id)]
    # The key travels in the environment, never in argv.
    env = child_env(drop=provider.dropped_env)
    pid = CHILDREN.start(command, log=run_dir / "follow.log", env=env, cwd=run_dir)
    registry.update_run(run_id, pid=pid)
    return pid


def reattach_all(provider: Provider, ws: Workspace, registry: Registry) -> list[int]:
    """Re-attach followers to every job of this backend still active (tunechat was restarted); return the run ids."""
    attached = []
    for run in registry.list_runs():
        if run.get("backend") == provider.name and run["status"] in ACTIVE:
            try:
                if ensure_follower(provider, ws, registry, int(run["id"])):
                    attached.append(int(run["id"]))
            except (OSError, UserError):
                continue
    return attached


def main(provider: Provider, argv: list[str] | None = None) -> int:
    """The follower process's command line: RUN_DIR --db DB --run-id N."""
    parser = argparse.ArgumentParser(prog=f"python -m {provider.module}")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run-id", type=int, required=True)
    args = parser.parse_args(argv)
    return follow_forever(provider, args.run_dir, args.db, args.run_id)


def chat_asker(
    client: Any, record: dict[str, Any], explained: Callable[[str], AbstractContextManager[Any]], length_field: str
) -> Callable[..., str]:
    """A hosted evaluation's way to ask a model (the tuned one, or with base=True the one it was tuned from) one
    greedy question through the provider's OpenAI-style chat API; `length_field` is how that API names the answer's
    length limit (OpenAI: max_completion_tokens, Together: max_tokens)."""

    def ask(messages: list[dict[str, Any]], *, max_tokens: int = 16, base: bool = False) -> str:
        model = record["model"] if base else record["fine_tuned_model"]
        with explained(f"asking {model} for a test prediction"):
            answer = client.chat.completions.create(
                model=model, messages=messages, temperature=0, **{length_field: max_tokens}
            )
        return str(answer.choices[0].message.content or "")

    return ask


def finish_success(
    provider: Provider,
    registry: Registry,
    run_id: int,
    run_dir: Path,
    record: dict[str, Any],
    metrics: dict[str, Any],
    ask: Callable[..., str],
) -> None:
    """The job succeeded: evaluate the tuned model on the held-out split (when its task can be judged through a
    chat API, with `ask` the backend's own chat call) and mark the run succeeded with `metrics`."""
    task = task_of(record)
    if task.hosted_trainable:
        provider.files.write_progress(run_dir, phase="evaluating")
        try:
            evaluation = task.evaluate_hosted(run_dir, record, ask)
        except UserError as error:
            # The job itself succeeded and its model exists: the run stays succeeded, with the reason kept.
            metrics["evaluation_error"] = str(error)
            provider.files.log(run_dir, f"evaluation failed: {error}")
        else:
            if evaluation is not None:
                metrics.update(task.summary_metrics(evaluation))
    provider.files.write_progress(run_dir, phase="done")
    registry.update_run(run_id, status="succeeded", metrics=metrics, error=None)


def status(provider: Provider, ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
    """A hosted run's registry row merged with progress.json (the backend's `progress_keys` of it), the latest
    events and the job record; asking also re-attaches a follower to a job still running."""
    ensure_follower(provider, ws, registry, run_id)
    run = registry.get_run(run_id)
    run_dir = ws.run_dir_of(run)
    progress = read_json_object(run_dir / "progress.json")
    record = provider.files.read_record(run_dir)
    extra: dict[str, Any] = {key: progress.get(key) for key in provider.progress_keys}
    extra["job_id"] = record.get("job_id")
    extra["fine_tuned_model"] = record.get("fine_tuned_model") or progress.get("fine_tuned_model")
    extra["events"] = read_jsonl(run_dir / "events.jsonl")
    return RunStatus(run, str(run_dir), progress, extra)
