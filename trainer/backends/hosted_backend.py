"""The part of a hosted backend that is only wiring: confirm, status, stop and the follower, the same for every
provider whose package gives a follower `Provider` (its follow.py) and the `JobSteps` of its job.py.

A backend package then says only what is its own: which models and messages pick it, how it plans, and how its
failures read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from trainer.backends import hosted_follow, hosted_job
from trainer.backends.base import HostedBackend, RunStatus
from trainer.backends.hosted_common import plan_folder
from trainer.backends.hosted_job import JobSteps
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry


class WiredHostedBackend(HostedBackend):
    """A hosted backend made of the shared confirm/cancel (hosted_job) and follower (hosted_follow)."""

    # The backend's own steps of confirming and cancelling a job, with its follower (client, poll, process).
    steps: ClassVar[JobSteps]
    # The folder under the workspace's datasets that holds the backend's plans.
    plans: ClassVar[str]

    def owns_plan(self, ws: Workspace, plan_id: str) -> bool:
        return plan_folder(ws, self.plans, plan_id) is not None

    def confirm(self, ws: Workspace, registry: Registry, plan_id: str, session_id: str | None = None) -> dict[str, Any]:
        return hosted_job.confirm_plan(self.steps, ws, registry, plan_id, session_id, None, True)

    def status(self, ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
        # Also re-attaches a follower to a job still running.
        return hosted_follow.status(self.steps.follower, ws, registry, run_id)

    def stop(self, ws: Workspace, registry: Registry, run_id: int, grace_s: float | None = None) -> RunStatus:
        hosted_job.cancel(self.steps, ws, registry, run_id, None)
        return self.status(ws, registry, run_id)

    def reattach(self, ws: Workspace, registry: Registry) -> list[int]:
        return hosted_follow.reattach_all(self.steps.follower, ws, registry)

    def follower_alive(self, pid: int | None) -> bool:
        return hosted_follow.follower_alive(self.steps.follower, pid)
