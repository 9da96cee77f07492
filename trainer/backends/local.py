"""Start, watch and stop local training runs; what the tools and the CLI call.

Each run trains in its own process (`python -m trainer.backends.worker`), in a new session so a stop signal
reaches it and its children but never the chat. The registry row and the run folder are the only
channel between them, so any process (the chat, the CLI, a later session) can watch or stop a run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.core.config import RunConfig
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_json_object, update_json
from trainer.core.processes import child_env, process_alive
from trainer.core.workspace import Workspace
from trainer.store.registry import ACTIVE, FINISHED, Registry

# How long a stopped run gets to finish its current step and exit before it is killed.
STOP_GRACE_S = 20.0
# Environment variables a training process must not inherit (it never talks to the LLM).
SECRET_ENV = ("OPENAI_API_KEY",)

# Workers this process started, so their exit can be reaped (no zombies) and read precisely.
_children: dict[int, subprocess.Popen[bytes]] = {}


def resolve_data_path(data: str, workspace_root: Path) -> Path:
    """A dataset named in a config: an absolute path as given, a relative name inside the workspace."""
    path = Path(data).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise UserError(f"The data file '{data}' does not exist; upload it again and start a new run.")
        return path
    return Workspace(workspace_root).resolve(data)


def create_run(ws: Workspace, registry: Registry, config: RunConfig, session_id: str | None = None) -> int:
    """Register a queued run and write its config.json; nothing trains until `launch`."""
    resolve_data_path(config.data, ws.root)  # fail now, in the chat, rather than in the worker
    run_id = registry.create_run(config.to_dict(), session_id=session_id)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    # The config lands before the row points at the folder, so whoever finds run_dir finds config.json.
    config.save(run_dir / "config.json")
    registry.update_run(run_id, run_dir=str(run_dir))
    return run_id


def _worker_env() -> dict[str, str]:
    env = child_env(drop=SECRET_ENV)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


# The worker module per task: encoders train in trainer.backends.worker, causal LMs (TRL) in
# trainer.tasks.causal_lm.worker.
WORKER_MODULES = {"sft": "trainer.tasks.causal_lm.worker", "dpo": "trainer.tasks.causal_lm.worker"}


def worker_module(task: str) -> str:
    return WORKER_MODULES.get(task, "trainer.backends.worker")


def launch(ws: Workspace, registry: Registry, run_id: int, resume: bool = False) -> int:
    """Start the training process of a queued run (`resume`: from its newest complete checkpoint); return its pid."""
    run = registry.get_run(run_id)
    if run["status"] != "queued":
        raise UserError(f"Run {run_id} is already {run['status']}, so it cannot be started again; start a new run.")
    run_dir = ws.run_dir_of(run)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"Run {run_id} has no config.json in {run_dir}; create the run again.")
    command = [
        sys.executable,
        "-m",
        worker_module(str(read_json(run_dir / "config.json").get("task", ""))),
        str(run_dir),
        "--db",
        str(registry.db_path),
        "--run-id",
        str(run_id),
    ]
    if resume:
        command.append("--resume")
    if command[2] != "trainer.backends.worker":
        from trainer.plan.launch import command_for_run

        # Several GPUs: `accelerate launch`; the command is recorded in the run folder (command.sh).
        command = command_for_run(run_dir, registry.db_path, run_id, resume=resume)
    with (run_dir / "train.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=_worker_env(),
            start_new_session=True,
        )
    _children[process.pid] = process
    registry.update_run(run_id, pid=process.pid)
    return process.pid


# How a run whose worker died silently is recorded; trainer/evaluate/diagnosis.py recognises it by this opening.
PROCESS_DIED = "The training process ended without recording a result"


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live training worker (not exited, not a zombie, not a recycled pid)."""
    if pid == os.getpid():
        return True  # train_run called in this very process
    return process_alive(pid, ("trainer.backends.worker", *WORKER_MODULES.values()), _children)


def log_lines(run_dir: Path, count: int) -> list[str]:
    """The last `count` non-blank lines of the run's train.log, stripped (none when there is no log)."""
    try:
        text = (run_dir / "train.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()][-count:]


def _log_tail(run_dir: Path, lines: int = 4, limit: int = 500) -> str:
    tail = " / ".join(log_lines(run_dir, lines))
    return tail if len(tail) <= limit else "..." + tail[-limit:]


def _write_phase(run_dir: Path, phase: str, **extra: Any) -> None:
    update_json(run_dir / "progress.json", phase=phase, eta_s=None, updated_at=time.time(), **extra)


def run_status(ws: Workspace, registry: Registry, run_id: int) -> dict[str, Any]:
    """The registry row merged with progress.json; a run whose process died unnoticed is marked failed."""
    run = registry.get_run(run_id)
    if run.get("backend") == "openai":
        from trainer.backends.openai.follow import status as openai_status

        return openai_status(ws, registry, run_id)  # also re-attaches a follower to a job still running
    run_dir = ws.run_dir_of(run)
    if run["status"] in ACTIVE and run.get("pid") and not pid_alive(int(run["pid"])):
        # Re-read: a worker records its final status before it exits, so only a silent death remains.
        run = registry.get_run(run_id)
        if run["status"] in ACTIVE:
            tail = _log_tail(run_dir)
            reason = (
                f"{PROCESS_DIED} (its log ends: {tail or 'nothing'}); see {run_dir / 'train.log'} and start a new run."
            )
            registry.update_run(run_id, status="failed", error=reason)
            _write_phase(run_dir, "failed", error=reason)
            run = registry.get_run(run_id)
    progress = read_json_object(run_dir / "progress.json")
    status = dict(run)
    status["run_dir"] = str(run_dir)
    for key in ("phase", "step", "total_steps", "epoch", "loss", "eta_s", "elapsed_s"):
        status[key] = progress.get(key)
    status["progress"] = progress
    return status


def _signal(pid: int, signum: int) -> None:
    try:
        # The worker leads its own session: signal the whole group so any helper processes stop too.
        if pid != os.getpid() and os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_dead(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return not pid_alive(pid)


def stop_run(ws: Workspace, registry: Registry, run_id: int, grace_s: float = STOP_GRACE_S) -> dict[str, Any]:
    """Ask a run to stop (SIGTERM), kill it if it has not exited after `grace_s`; return its status."""
    run = registry.get_run(run_id)
    if run.get("backend") == "openai":
        from trainer.backends.openai.job import cancel as cancel_openai_job

        cancel_openai_job(ws, registry, run_id)  # stopping a hosted run cancels its job
        return run_status(ws, registry, run_id)
    if run["status"] in FINISHED:
        raise UserError(f"Run {run_id} has already finished ({run['status']}), so there is nothing to stop.")
    pid = run.get("pid")
    if pid and pid != os.getpid() and pid_alive(int(pid)):
        _signal(int(pid), signal.SIGTERM)
        if not _wait_dead(int(pid), grace_s):
            _signal(int(pid), signal.SIGKILL)
            _wait_dead(int(pid), 5.0)
    run = registry.get_run(run_id)
    if run["status"] not in FINISHED:
        # Killed, or never launched: the worker could not record the stop itself.
        registry.update_run(run_id, status="cancelled", error="Stopped on request before it finished.")
        _write_phase(ws.run_dir_of(run), "cancelled")
    return run_status(ws, registry, run_id)


def follow(
    ws: Workspace,
    registry: Registry,
    run_id: int,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    poll_s: float = 1.0,
) -> dict[str, Any]:
    """Block until the run has finished, passing each polled status to `on_progress`; return the last."""
    while True:
        status = run_status(ws, registry, run_id)
        if on_progress is not None:
            on_progress(status)
        if status["status"] in FINISHED:
            return status
        time.sleep(poll_s)


def latest_active_run(registry: Registry, session_id: str | None = None) -> int | None:
    """The newest queued or running run (of this session, if given), or None."""
    active = [run["id"] for run in registry.list_runs(session_id) if run["status"] in ACTIVE]
    return max(active) if active else None
