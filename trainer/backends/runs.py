"""What any caller does with a run, whatever backend it executes on: status, stop, follow, resume.

Each operation asks the run's backend (trainer/backends/registry.py), so the tools and the command line never
branch on where a run executes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from trainer.backends.base import RunStatus
from trainer.backends.registry import all_backends, backend_of
from trainer.core.workspace import Workspace
from trainer.store.registry import ACTIVE, FINISHED, Registry
from trainer.store.runs import RunRecord


def run_status(ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
    """The registry row merged with the run's progress (a local run whose process died is marked failed,
    a hosted job still running gets its follower back)."""
    return backend_of(registry.get_run(run_id)).status(ws, registry, run_id)


def stop_run(ws: Workspace, registry: Registry, run_id: int, grace_s: float | None = None) -> RunStatus:
    """Stop a run (a hosted job is cancelled; a local run gets `grace_s` seconds to exit); return its status."""
    return backend_of(registry.get_run(run_id)).stop(ws, registry, run_id, grace_s)


def resume_run(ws: Workspace, registry: Registry, run_id: int) -> int:
    """Continue an interrupted run from its newest complete checkpoint; return the training process id."""
    return backend_of(registry.get_run(run_id)).resume(ws, registry, run_id)


def follow(
    ws: Workspace,
    registry: Registry,
    run_id: int,
    on_progress: Callable[[RunStatus], None] | None = None,
    poll_s: float = 1.0,
) -> RunStatus:
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


def refreshed_runs(ws: Workspace, registry: Registry, session_id: str | None = None) -> list[RunRecord]:
    """The runs (of one chat, if given), each active one brought up to date by its backend first."""
    for run in registry.list_runs(session_id):
        if run["status"] in ACTIVE:
            backend_of(run).refresh(ws, registry, run)
    return registry.list_runs(session_id)


def reattach_all(ws: Workspace, registry: Registry) -> list[int]:
    """After a restart: every backend picks up what must keep running (e.g. following hosted jobs)."""
    return [run_id for backend in all_backends() for run_id in backend.reattach(ws, registry)]
