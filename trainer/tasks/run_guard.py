"""The stop-and-status wrapper every local training worker runs its task in (encoders, media classifiers).

A SIGTERM means "stop": inside the training loop it is honoured at the next step boundary (the loop checks the
flag, so the process exits cleanly); before or after the loop it interrupts at once. Whatever ends the run, the
registry row and progress.json say so: succeeded, cancelled, or failed with one sentence.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks.progress import ProgressWriter, error_details, failure_message, log


class StopFlag:
    """Set by the SIGTERM handler; the training loop turns it into a stop at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self.in_training_loop = False


# The body of a run: (run_dir, registry, run_id, flag, progress) -> {"status", "run_id", "metrics"}.
RunBody = Callable[[Path, Registry, int, StopFlag, ProgressWriter], dict[str, Any]]


class RunCancelled(BaseException):
    """Raised when a stop was requested; a BaseException so library code catching Exception lets it through."""


def saved_config(run_dir: Path) -> RunConfig | None:
    try:
        return RunConfig.load(run_dir / "config.json")
    except (OSError, ValueError, UserError):
        return None


def guarded_run(run_dir: Path, registry: Registry, run_id: int, body: RunBody) -> dict[str, Any]:
    """Run `body` as run `run_id`, recording running -> succeeded | failed | cancelled in the registry.

    On failure the run is marked failed (with one sentence in `error`) and the exception re-raised;
    on a stop request it is marked cancelled and {"status": "cancelled"} returned.
    """
    run_dir = Path(run_dir)
    flag = StopFlag()
    progress = ProgressWriter(run_dir)

    def on_sigterm(signum: int, frame: Any) -> None:
        flag.requested = True
        if not flag.in_training_loop:
            raise RunCancelled()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        progress.write(phase="loading")
        registry.update_run(run_id, status="running", pid=os.getpid(), error=None)
        result = body(run_dir, registry, run_id, flag, progress)
        log(f"run {run_id} succeeded: {json.dumps(result['metrics'])}")
        return result
    except (RunCancelled, KeyboardInterrupt) as stop:
        log(f"run {run_id} stopped on request")
        registry.update_run(run_id, status="cancelled", error="Stopped on request before it finished.")
        progress.write(phase="cancelled", eta_s=None)
        signal_name = "SIGINT" if isinstance(stop, KeyboardInterrupt) else "SIGTERM"
        return {"status": "cancelled", "run_id": run_id, "signal": signal_name}
    except BaseException as error:
        import torch

        message = failure_message(error, saved_config(run_dir), "cuda" if torch.cuda.is_available() else "cpu")
        log(f"run {run_id} failed: {message}")
        registry.update_run(run_id, status="failed", error=message)
        # The raw exception line too: the diagnosis (trainer/evaluate/diagnosis.py) reads e.g.
        # "tried to allocate N bytes".
        progress.write(phase="failed", eta_s=None, error=message, **error_details(error))
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
