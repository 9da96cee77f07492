"""A dry run of a local training plan, in a child process, before anything real starts.

The child is the training worker itself (`python -m trainer.backends.worker SCRATCH --dry-run`), started through
the one child-process table with a real run's environment and niceness: the peak memory it reports is its own,
not the chat's, and a crash or an out-of-memory kill ends the child, never the chat.

A dry run registers no run. It is a test of a plan, not a run: with a row, every list, ranking, comparison,
"status", "the best run", "the run that crashed" and deletion would have to learn to skip it, and one that did
not would show a model that was never trained. Its only trace is a scratch folder under the workspace
(`dry-runs/dry-*`: config.json, train.log, dry_run.json), deleted when it ends.

It needs no yes from the user: it spends no money, keeps no model and changes nothing but that scratch folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.backends.local import worker_env
from trainer.core.errors import UserError
from trainer.core.fileio import read_json_object
from trainer.core.processes import CHILDREN
from trainer.core.workspace import Workspace, resolve_data_path
from trainer.plan.config import RunConfig, resolve_config
from trainer.plan.launch import WORKER_MODULE
from trainer.tasks.registry import task_of

FOLDER = "dry-runs"
REPORT = "dry_run.json"
# A dry run of a plan that fits takes seconds to a few minutes; past this it is stopped (TUNECHAT_DRY_RUN_TIMEOUT_S).
TIMEOUT_S = 1800.0
# Scratch folders older than this belong to a chat that died mid-dry-run: the next dry run removes them.
STALE_S = 6 * 3600.0


def dry_run(ws: Workspace, config: Mapping[str, Any] | RunConfig, timeout_s: float | None = None) -> dict[str, Any]:
    """Dry-run `config` in a worker child; return its report (see Task.dry_run) with "dry_run": True.

    Raises UserError when the plan's task has no dry run or its data file is gone; every other failure (a bad row,
    a model that does not load, out of memory) is the report's "error".
    """
    run_config = config if isinstance(config, RunConfig) else resolve_config(dict(config))
    task = task_of(run_config.to_dict())
    if not task.dry_runnable:
        raise UserError(f"{task.title.capitalize()} has no dry run; start the run itself and watch its status.")
    resolve_data_path(run_config.data, ws.root)  # a missing file is said now, not by the child
    folder = ws.root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale(folder)
    scratch = Path(tempfile.mkdtemp(prefix="dry-", dir=folder))
    limit = timeout_s if timeout_s is not None else float(os.environ.get("TUNECHAT_DRY_RUN_TIMEOUT_S") or TIMEOUT_S)
    try:
        run_config.save(scratch / "config.json")
        command = [sys.executable, "-m", WORKER_MODULE, str(scratch), "--dry-run"]
        pid = CHILDREN.start(command, log=scratch / "train.log", env=worker_env(), cwd=scratch)
        code = _wait(pid, limit)
        report = read_json_object(scratch / REPORT)
        if not report:
            tail = " ".join(_log_tail(scratch / "train.log").split())
            report = {
                "steps": 0,
                "error": f"The dry run's process ended (exit code {code}) without a report"
                + (f": {tail}" if tail else "")
                + "; see the message above, fix the plan and try again.",
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"dry_run": True, "task": run_config.task, "method": run_config.method, "model": run_config.model, **report}


def _wait(pid: int, limit: float) -> int | None:
    """The child's exit code; a child past `limit` (or a caller interrupted) is stopped first."""
    process = CHILDREN.popen(pid)
    if process is None:  # pragma: no cover - CHILDREN.start always records it
        return None
    try:
        return process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        CHILDREN.terminate(pid, (WORKER_MODULE,), grace_s=5.0)
        raise UserError(
            f"The dry run took longer than {limit / 60:.0f} minutes and was stopped; try a shorter max_length "
            "or a smaller batch size."
        ) from None
    except BaseException:
        CHILDREN.terminate(pid, (WORKER_MODULE,), grace_s=5.0)
        raise
    finally:
        CHILDREN.exited(pid)


def _log_tail(path: Path, limit: int = 300) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][-limit:] if lines else ""


def _remove_stale(folder: Path) -> None:
    now = time.time()
    for scratch in folder.glob("dry-*"):
        try:
            if now - scratch.stat().st_mtime > STALE_S:
                shutil.rmtree(scratch, ignore_errors=True)
        except OSError:
            continue
