"""This machine as a backend: each run trains in its own process, watched and stopped through the registry.

A run's worker (`python -m trainer.backends.worker`, see trainer/plan/launch.py) runs in a new session so a
stop signal reaches it and its children but never the chat. The registry row and the run folder are the only
channel between them, so any process (the chat, the CLI, a later session) can watch or stop a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.backends.base import Backend, RunStatus
from trainer.backends.capacity import launch_slot
from trainer.core.errors import UserError
from trainer.core.fileio import read_json_object, update_json
from trainer.core.processes import CHILDREN, child_env, secret_env
from trainer.core.workspace import Workspace, resolve_data_path
from trainer.plan.config import RunConfig
from trainer.plan.launch import WORKER_MODULE
from trainer.store.registry import ACTIVE, FINISHED, Registry
from trainer.tasks.registry import plugin_env, task_of

# How long a stopped run gets to finish its current step and exit before it is killed.
STOP_GRACE_S = 20.0
# How a run whose worker died silently is recorded; trainer/evaluate/diagnosis.py recognises it by this opening.
PROCESS_DIED = "The training process ended without recording a result"


def create_run(ws: Workspace, registry: Registry, config: RunConfig, session_id: str | None = None) -> int:
    """Register a queued run and write its config.json; nothing trains until `launch`."""
    resolve_data_path(config.data, ws.root)  # fail now, in the chat, rather than in the worker
    run_id = registry.create_run(config.to_dict(), session_id=session_id, backend=BACKEND.name)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    # The config lands before the row points at the folder, so whoever finds run_dir finds config.json.
    config.save(run_dir / "config.json")
    registry.update_run(run_id, run_dir=str(run_dir))
    return run_id


def worker_env() -> dict[str, str]:
    """A worker's environment: no API keys, the plug-in tasks of this process, quiet tokenizers."""
    env = child_env(drop=secret_env(), extra=plugin_env())
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def launch(ws: Workspace, registry: Registry, run_id: int, resume: bool = False) -> int:
    """Start the training process of a queued run (`resume`: from its newest complete checkpoint); return its pid."""
    run = registry.get_run(run_id)
    if run["status"] != "queued":
        raise UserError(f"Run {run_id} is already {run['status']}, so it cannot be started again; start a new run.")
    run_dir = ws.run_dir_of(run)
    config = read_json_object(run_dir / "config.json")
    if not config:
        raise UserError(f"Run {run_id} has no config.json in {run_dir}; create the run again.")
    command = task_of(config).launch_command(run_dir, registry.db_path, run_id, resume=resume)
    pid = CHILDREN.start(command, log=run_dir / "train.log", env=worker_env(), cwd=run_dir)
    registry.update_run(run_id, pid=pid)
    return pid


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live training worker (not exited, not a zombie, not a recycled pid)."""
    if pid == os.getpid():
        return True  # a task trained in this very process
    return CHILDREN.alive(pid, (WORKER_MODULE,))


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


class LocalBackend(Backend):
    name = "local"
    title = "this machine"

    def refresh(self, ws: Workspace, registry: Registry, run: Mapping[str, Any]) -> None:
        """Mark an active run whose worker died unnoticed as failed, quoting the end of its log."""
        if run["status"] not in ACTIVE or not run.get("pid") or pid_alive(int(run["pid"])):
            return
        # Re-read: a worker records its final status before it exits, so only a silent death remains.
        run = registry.get_run(int(run["id"]))
        if run["status"] in ACTIVE:
            run_dir = ws.run_dir_of(run)
            tail = _log_tail(run_dir)
            reason = (
                f"{PROCESS_DIED} (its log ends: {tail or 'nothing'}); see {run_dir / 'train.log'} and start a new run."
            )
            registry.update_run(int(run["id"]), status="failed", error=reason)
            _write_phase(run_dir, "failed", error=reason)

    def status(self, ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
        self.refresh(ws, registry, registry.get_run(run_id))
        run = registry.get_run(run_id)
        run_dir = ws.run_dir_of(run)
        return RunStatus(run, str(run_dir), read_json_object(run_dir / "progress.json"))

    def stop(self, ws: Workspace, registry: Registry, run_id: int, grace_s: float | None = None) -> RunStatus:
        """Ask a run to stop (SIGTERM), kill it if it has not exited after `grace_s` (default STOP_GRACE_S)."""
        run = registry.get_run(run_id)
        if run["status"] in FINISHED:
            raise UserError(f"Run {run_id} has already finished ({run['status']}), so there is nothing to stop.")
        pid = run.get("pid")
        if pid and pid != os.getpid() and pid_alive(int(pid)):
            CHILDREN.terminate(int(pid), (WORKER_MODULE,), STOP_GRACE_S if grace_s is None else grace_s)
        run = registry.get_run(run_id)
        if run["status"] not in FINISHED:
            # Killed, or never launched: the worker could not record the stop itself.
            registry.update_run(run_id, status="cancelled", error="Stopped on request before it finished.")
            _write_phase(ws.run_dir_of(run), "cancelled")
        return self.status(ws, registry, run_id)

    def resume(self, ws: Workspace, registry: Registry, run_id: int) -> int:
        """Relaunch a killed, stopped or failed run of a resumable task from its newest complete checkpoint."""
        status = self.status(ws, registry, run_id)  # marks a silently killed run failed
        if status["status"] == "succeeded":
            raise UserError(f"Run {run_id} already finished successfully; there is nothing to resume.")
        if status["status"] in ACTIVE and status.get("pid") and pid_alive(int(status["pid"])):
            raise UserError(
                f"Run {run_id} is still training (pid {status['pid']}); stop it first or follow its status."
            )
        task = task_of(read_json_object(Path(status["run_dir"]) / "config.json"))
        if not task.resumable:
            raise UserError(
                f"Run {run_id} is a {task.name} run, which keeps no resumable checkpoint, so start a new run."
            )
        with launch_slot(ws, registry):
            registry.update_run(run_id, status="queued", error=None, pid=None)
            return launch(ws, registry, run_id, resume=True)


BACKEND = LocalBackend()
