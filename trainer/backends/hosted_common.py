"""What every hosted backend does alike: the run folder a confirmed plan becomes, and the data conversions the
providers share (OpenAI's DPO layout, which Together takes too; a model-name suffix).

A hosted run's folder holds what a local run of the same file holds, so lists and comparisons read them alike:
config.json, held_out.json (the fingerprint of the rows the tuned model is evaluated on, the same rows a local
run holds out), the text/label splits of a classifier and progress.json; each backend adds its own job record.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_json, update_json
from trainer.core.workspace import Workspace
from trainer.evaluate.held_out import write_held_out
from trainer.store.registry import Registry


@dataclass(frozen=True)
class RunFiles:
    """What a hosted run keeps in its folder besides a local run's files: the job record (`record_name`, one
    name per backend), progress.json and follow.log, with the backend's API key redacted from the log.

    Exactly once: the record is written before every step that costs money and read first on every attempt
    (each backend's job.py), so a crash, a timeout or a second "yes" never makes a second job.
    """

    record_name: str
    redact: Callable[[str], str]

    def read_record(self, run_dir: Path) -> dict[str, Any]:
        path = run_dir / self.record_name
        return dict(read_json(path)) if path.is_file() else {}

    def write_record(self, run_dir: Path, record: dict[str, Any]) -> None:
        record["updated_at"] = time.time()
        atomic_write_json(run_dir / self.record_name, record)

    def write_progress(self, run_dir: Path, **changes: Any) -> dict[str, Any]:
        return update_json(run_dir / "progress.json", **changes, updated_at=time.time())

    def log(self, run_dir: Path, message: str) -> None:
        """A line in the run's follow.log, with the API key (should it appear) redacted."""
        with (run_dir / "follow.log").open("a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.redact(message)}\n")


def make_suffix(text: str) -> str:
    """A model-name suffix from a file name: lowercase letters, digits and dashes, at most 40 characters."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:40].strip("-") or "tunechat"


def as_dpo(pair: dict[str, Any]) -> dict[str, Any]:
    """The DPO record ({"input": {"messages"}, "preferred_output", "non_preferred_output"}) from {prompt, chosen,
    rejected} (strings or message lists) or from such a record."""
    if "input" in pair and "preferred_output" in pair:
        return {k: pair[k] for k in ("input", "preferred_output", "non_preferred_output") if k in pair}

    def as_messages(value: Any, role: str) -> list[dict[str, Any]]:
        return [dict(m) for m in value] if isinstance(value, list) else [{"role": role, "content": str(value)}]

    chosen = as_messages(pair.get("chosen", ""), "assistant")
    rejected = as_messages(pair.get("rejected", ""), "assistant")
    return {
        "input": {"messages": as_messages(pair.get("prompt") or pair.get("messages") or "", "user")},
        "preferred_output": [m for m in chosen if m.get("role") == "assistant"][-1:],
        "non_preferred_output": [m for m in rejected if m.get("role") == "assistant"][-1:],
    }


def copy_files(files: dict[str, str], target: Path) -> dict[str, str]:
    """Copy each named file to `target/<name>.jsonl`; return the new paths by name."""
    target.mkdir(parents=True, exist_ok=True)
    copied = {}
    for name, source in files.items():
        destination = target / f"{name}.jsonl"
        shutil.copyfile(source, destination)
        copied[name] = str(destination)
    return copied


def create_hosted_run(
    ws: Workspace,
    registry: Registry,
    plan: dict[str, Any],
    session_id: str | None,
    backend: str,
    fill: Callable[[int, Path], None],
) -> int:
    """Register the run of a confirmed plan and fill its folder; nothing is sent anywhere yet.

    `fill(run_id, run_dir)` adds what only this backend keeps (its copy of the plan's files and its job record);
    the folder is listed in the registry only once it is complete.
    """
    config = dict(plan["config"])
    run_id = registry.create_run(config, session_id=session_id, backend=backend)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", config)
    if plan.get("held_out"):
        write_held_out(run_dir, plan["held_out"])
    splits = Path(plan["files"]["train"]).parent / "splits"
    if splits.is_dir():  # text/label splits, as a local classifier run writes them
        copy_files({path.stem: str(path) for path in sorted(splits.glob("*.jsonl"))}, run_dir / "splits")
    fill(run_id, run_dir)
    atomic_write_json(run_dir / "progress.json", {"phase": "loading", "job_status": "new", "updated_at": time.time()})
    registry.update_run(run_id, run_dir=str(run_dir))
    return run_id


# ---- where a backend keeps its plans: <workspace>/datasets/<plans>/<plan id>/plan.json ----------------------


def plan_folder(ws: Workspace, plans: str, plan_id: str) -> Path | None:
    """The folder of plan `plan_id` among a backend's `plans`, or None when there is no such plan."""
    # Only a plan id's own shape is looked up, so an id from a message can never point outside the folder.
    if not re.fullmatch(r"[0-9a-f]{12}", str(plan_id)):
        return None
    folder = ws.datasets / plans / plan_id
    return folder if (folder / "plan.json").is_file() else None


def write_plan(folder: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """Write `plan` as folder/plan.json and return it; planned again, it keeps the run it was confirmed into."""
    existing = folder / "plan.json"
    if existing.is_file():
        plan["run_id"] = read_json(existing).get("run_id")  # a plan already confirmed stays tied to its run
    atomic_write_json(existing, plan)
    return plan


def load_plan(ws: Workspace, plans: str, plan_id: str, missing: str) -> dict[str, Any]:
    """Plan `plan_id`; a UserError saying `missing` when the backend has no such plan."""
    folder = plan_folder(ws, plans, plan_id)
    if folder is None:
        raise UserError(missing)
    return dict(read_json(folder / "plan.json"))


def save_plan(ws: Workspace, plans: str, plan: dict[str, Any]) -> None:
    atomic_write_json(ws.datasets / plans / plan["plan_id"] / "plan.json", plan)
