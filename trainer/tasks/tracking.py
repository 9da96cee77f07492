"""Where a local run's numbers go besides metrics.jsonl: the experiment tracker the user chose.

`tracking_for(config, run_dir)` is the one decision every task's training asks for: the Trainer's `report_to` (and
the run name and project it shows), the environment its tracker reads, and for TensorBoard the folder of event
files, inside the run folder. "auto" means TensorBoard when the tensorboard package is installed, else nothing.
MLflow and trackio keep one store per workspace (runs compare there side by side), not per run:
`<workspace>/mlflow/mlflow.db` and `<workspace>/trackio/`. A chosen tracker whose package is missing is refused
with one sentence before a run is created (`check_tracker`, called by the launch path).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.plan.config import TRACKERS, RunConfig

# The Python package each tracker needs, and what to install for it.
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "trackio": "trackio"}
# The project (MLflow experiment, trackio project) every tunechat run is logged under.
PROJECT = "tunechat"
# The folder of a run's TensorBoard event files, inside the run folder.
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class Tracking:
    """What a run reports to: `tracker` (tensorboard, mlflow, trackio or none), the Trainer's `report_to`, the
    environment variables the tracker's integration reads, and TensorBoard's event folder (None for the others)."""

    tracker: str
    report_to: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    logging_dir: Path | None = None
    run_name: str = ""

    def trainer_arguments(self) -> dict[str, Any]:
        """The Trainer's (and TRL's) arguments for this tracker; "none" reports to no integration."""
        arguments: dict[str, Any] = {"report_to": self.report_to or "none"}
        if self.report_to:
            arguments.update(run_name=self.run_name, project=PROJECT)
        return arguments


NO_TRACKING = Tracking("none")


def installed(tracker: str) -> bool:
    package = PACKAGES.get(tracker)
    return package is not None and importlib.util.find_spec(package) is not None


def chosen_tracker(setting: str) -> str:
    """The tracker a setting means: "auto" is TensorBoard when installed, else none; the others as named."""
    name = (setting or "auto").strip().lower()
    if name not in TRACKERS:
        raise UserError(f"'{setting}' is not a tracker; use one of {', '.join(TRACKERS)}.")
    if name == "auto":
        return "tensorboard" if installed("tensorboard") else "none"
    return name


def check_tracker(setting: str) -> str:
    """The tracker a run will use; a named tracker whose package is not installed is refused in one sentence."""
    tracker = chosen_tracker(setting)
    if tracker != "none" and not installed(tracker):
        raise UserError(
            f"The tracker '{tracker}' is not installed; run `pip install {PACKAGES[tracker]}` "
            "or choose another tracker (tensorboard, none)."
        )
    return tracker


def workspace_of(run_dir: Path) -> Path:
    """The workspace root of a run folder (`<workspace>/runs/run-N`); a folder elsewhere keeps its stores inside."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent.parent if run_dir.parent.name == "runs" else run_dir


def tracking_for(config: RunConfig, run_dir: Path | None) -> Tracking:
    """The one decision of what a run reports to; no run folder (a dry run's scratch) reports to nothing."""
    if run_dir is None:
        return NO_TRACKING
    tracker = check_tracker(config.tracker)
    run_dir = Path(run_dir).resolve()
    name = run_dir.name  # run-N, as the registry and the run folder call it
    if tracker == "tensorboard":
        logs = run_dir / TENSORBOARD_DIR
        # transformers 5 has no logging_dir argument: its TensorBoard callback reads this variable.
        return Tracking(tracker, ["tensorboard"], {"TENSORBOARD_LOGGING_DIR": str(logs)}, logs, name)
    root = workspace_of(run_dir)
    if tracker == "mlflow":
        store = root / "mlflow"
        env = {
            "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
            "MLFLOW_EXPERIMENT_NAME": PROJECT,
        }
        return Tracking(tracker, ["mlflow"], env, None, name)
    if tracker == "trackio":
        # Local only: no Space on the Hub is made unless the user sets one up themselves.
        return Tracking(tracker, ["trackio"], {"TRACKIO_DIR": str(root / "trackio")}, None, name)
    return NO_TRACKING


@contextmanager
def tracked(tracking: Tracking) -> Iterator[Tracking]:
    """The tracker's environment while the Trainer is built and trains (its integrations read it then), restored
    afterwards, so a run trained inside a test or a notebook leaves the process as it found it."""
    saved: Mapping[str, str | None] = {key: os.environ.get(key) for key in tracking.env}
    if tracking.logging_dir is not None:
        tracking.logging_dir.mkdir(parents=True, exist_ok=True)
    for key, value in tracking.env.items():
        if key == "MLFLOW_TRACKING_URI":
            Path(value.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        os.environ[key] = value
    try:
        yield tracking
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class ScalarLog:
    """TensorBoard scalars from a loop of our own (the media tasks'): the same numbers as its metrics.jsonl, under
    the Trainer's tag names (train/loss, eval/loss), so every run reads alike in TensorBoard. Other trackers and
    "none" log nothing here."""

    def __init__(self, tracking: Tracking):
        self.writer: Any = None
        if tracking.tracker == "tensorboard" and tracking.logging_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            tracking.logging_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(log_dir=str(tracking.logging_dir))

    def log(self, record: Mapping[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for key, value in record.items():
            if key in ("step", "epoch", "total_steps", "elapsed_s", "eta_s") or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                tag = f"eval/{key.removeprefix('eval_')}" if key.startswith("eval_") else f"train/{key}"
                self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
