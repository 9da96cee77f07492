"""Where a run executes: the one interface for local processes and hosted fine-tuning APIs.

Every backend creates runs in the same registry and run folders, reports status in the same words (the
OpenAI fine-tuning job's vocabulary: validating_files, queued, running, succeeded, failed, cancelled) and
stops them the same way, so lists, comparisons and the chat treat a local run and a hosted job alike. Code
outside a backend's own module never compares a backend name with a string: it asks the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainer.core.errors import UserError
from trainer.core.records import Record
from trainer.store.runs import RunRecord

if TYPE_CHECKING:
    from trainer.core.workspace import Workspace
    from trainer.store.registry import Registry

# What progress.json says that a status repeats at the top level, whatever the backend.
PROGRESS_KEYS = ("phase", "step", "total_steps", "epoch", "loss", "eta_s", "elapsed_s")


@dataclass(frozen=True, eq=False)
class RunStatus(Record):
    """A run's registry row with where it stands: the run's fields, its folder, its progress (and what a hosted
    job adds, such as its events), flat in one JSON object as `tunechat status --json` prints it."""

    run: RunRecord
    run_dir: str
    progress: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.run.to_dict()
        data["run_dir"] = self.run_dir
        data.update({key: self.progress.get(key) for key in PROGRESS_KEYS})
        data["progress"] = self.progress
        data.update(self.extra)
        return data


class HostedClosed(UserError):
    """The provider refused to create a fine-tuning job because this account may no longer fine-tune there at
    all (not because of the data or a setting): the same plan can only run on another backend."""

    def __init__(self, message: str, status: int | str = 403) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status the provider answered with


class Backend(ABC):
    name: ClassVar[str]
    # How the chat names where the run executes, e.g. "this machine".
    title: ClassVar[str]
    # True for a paid API: its runs start from a plan the user confirms, and are followed, not trained here.
    hosted: ClassVar[bool] = False
    # Run settings only this backend uses (the others leave them out of comparisons, and it shows only these
    # besides the shared ones).
    own_fields: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def status(self, ws: Workspace, registry: Registry, run_id: int) -> RunStatus:
        """The registry row merged with the run's progress; notices a run that died silently."""

    @abstractmethod
    def stop(self, ws: Workspace, registry: Registry, run_id: int, grace_s: float | None = None) -> RunStatus:
        """Stop the run (a hosted job is cancelled) and return its status; a local run gets `grace_s` seconds to
        save and exit before it is killed."""

    def resume(self, ws: Workspace, registry: Registry, run_id: int) -> int:
        """Continue an interrupted run from its newest complete checkpoint; return the process id."""
        raise UserError(f"Run {run_id} ran on {self.title}, which cannot resume runs; ask for a new plan instead.")

    def refresh(self, ws: Workspace, registry: Registry, run: Mapping[str, Any]) -> None:  # noqa: B027 - optional
        """Bring an active run's registry row up to date (cheap; no network); nothing to do by default."""

    def reattach(self, ws: Workspace, registry: Registry) -> list[int]:
        """Pick up again what must keep running after tunechat restarts; return the run ids."""
        return []

    def diagnose(self, run: Mapping[str, Any]) -> dict[str, Any] | None:
        """The cause of a failed or cancelled run when the backend itself explains it, else None:
        {"cause", "explanation", "can_relaunch"}."""
        return None

    def replan_hint(self, run: Mapping[str, Any]) -> str | None:
        """Why an earlier run of this backend cannot simply be copied, with what to say instead (None: it can)."""
        return None


class HostedBackend(Backend):
    """A fine-tuning API: plan (nothing sent), the user's yes, upload + create once, follow, evaluate."""

    hosted = True
    # The company's name as the chat says it ("created OpenAI job ftjob-...").
    provider: ClassVar[str]
    # The default model when the user names none.
    default_model: ClassVar[str]

    @abstractmethod
    def owns_model(self, model: str | None) -> bool:
        """True when `model` names one of this provider's models (so naming it picks this backend)."""

    @abstractmethod
    def named_in(self, message: str) -> bool:
        """True when a chat message asks for this provider ("on OpenAI", "through the API")."""

    @abstractmethod
    def model_in(self, message: str) -> str | None:
        """The provider's model a chat message names ("fine-tune gpt-4.1-mini on this"), or None."""

    @abstractmethod
    def plan(self, ws: Workspace, path: Path, model: str | None, settings: dict[str, Any]) -> dict[str, Any]:
        """Check and convert the data and price the job; nothing is uploaded. Returns the plan with its "plan_id"."""

    @abstractmethod
    def owns_plan(self, ws: Workspace, plan_id: str) -> bool:
        """True when `plan_id` is one of this backend's plans."""

    @abstractmethod
    def confirm(self, ws: Workspace, registry: Registry, plan_id: str, session_id: str | None = None) -> dict[str, Any]:
        """The user said yes: create the run (once per plan), upload, create the job once, follow it."""

    def follower_alive(self, pid: int | None) -> bool:
        """True when `pid` is a live process of this backend that follows a job (not any other process)."""
        return False
