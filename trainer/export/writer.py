"""Writing an export: checks the run, lets the format fill a temporary folder, checks parity, writes the manifest
and only then renames the folder into runs/run-N/export/<format>/.

An earlier export of the same format stays in place until the new one is complete, and a failed export leaves
nothing behind under the final name. Export runs on the CPU: no GPU is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.backends.registry import backend_of
from trainer.core.errors import UserError, disk_space_for
from trainer.core.fileio import atomic_write_json, read_json
from trainer.core.records import Record
from trainer.core.workspace import Workspace
from trainer.export.base import ExportOptions, ExportSource, Progress
from trainer.export.registry import format_named
from trainer.store.registry import Registry
from trainer.tasks.registry import get_task

MANIFEST = "manifest.json"
# Every export of a run lives under this folder of the run, one subfolder per format.
EXPORT_FOLDER = "export"


@dataclass(frozen=True, eq=False)
class ExportResult(Record):
    """A finished export, as `tunechat export --json` prints it and the chat shows it."""

    run_id: int
    format: str
    # runs/run-N/export/<format>/
    folder: str
    # Every file of the folder but the manifest: {"path" (relative, with /), "size" (bytes), "sha256"}.
    files: list[dict[str, Any]]
    # None when the format runs nothing to compare (a model card with an adapter the merged export checks).
    parity_ok: bool | None
    # The parity report's to_dict(), or None with `parity_sentence` saying why nothing was compared.
    parity: dict[str, Any] | None
    parity_sentence: str
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


def _quiet(line: str) -> None:
    return None


def export_source(workspace: Workspace, registry: Registry, run_id: int) -> ExportSource:
    """The run as formats read it; UserError (one sentence) when it is missing, unfinished, hosted or has no model."""
    run = registry.get_run(run_id)
    backend = backend_of(run)
    if backend.hosted:
        raise UserError(
            f"Run {run_id} was trained on {backend.title}, so its weights are not on this machine; only a run "
            "trained here can be exported."
        )
    if run["status"] != "succeeded":
        raise UserError(
            f"Run {run_id} is {run['status']}, and only a run that succeeded can be exported; say 'status' to see "
            "where it stands."
        )
    run_dir = workspace.run_dir_of(run)
    config_path = run_dir / "config.json"
    config = dict(read_json(config_path)) if config_path.is_file() else dict(run["config"])
    task = get_task(run["task"])
    if not task.has_model(run_dir):
        raise UserError(f"Run {run_id}'s folder {run_dir} holds no trained model; train it again to export it.")
    return ExportSource(run_id=run_id, run_dir=run_dir, config=config, task=task)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[dict[str, Any]]:
    """Every file under `folder` but the manifest, sorted, with its size and sha256."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != MANIFEST:
            found.append({"path": relative, "size": path.stat().st_size, "sha256": sha256_of(path)})
    return found


def _move_into_place(staging: Path, final: Path) -> None:
    """Rename the finished `staging` folder to `final`; an earlier `final` is set aside first and removed after."""
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(final, old)
    try:
        os.rename(staging, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_run(
    workspace: Workspace,
    registry: Registry,
    run_id: int,
    format_name: str,
    options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export run `run_id` in the format called `format_name` into runs/run-N/export/<format>/ and check it."""
    options = options or ExportOptions()
    say = progress or _quiet
    export_format = format_named(format_name)
    source = export_source(workspace, registry, run_id)
    refusal = export_format.refusal(source)
    if refusal:
        raise UserError(refusal)
    root = source.run_dir / EXPORT_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{export_format.name}-", dir=root))
    staging.chmod(0o755)  # mkdtemp's 0700 would keep a server running as another user out of the export
    final = root / export_format.name
    try:
        with disk_space_for(f"the {export_format.name} export of run {run_id}", "export it again"):
            say(f"writing the {export_format.name} export of run {run_id}")
            written = export_format.write(source, staging, options, say)
            say("checking that the export answers like the trained model (parity)")
            report = export_format.parity(source, staging, options)
            files = folder_files(staging)
            created = time.time()
            parity = report.to_dict() if report is not None else None
            sentence = report.sentence if report is not None else str(written.facts.get("parity_note", ""))
            manifest = {
                "format": export_format.name,
                "run_id": run_id,
                "task": source.task.name,
                "base_model": source.config.get("model"),
                "created_at": created,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
                "files": files,
                "notes": written.notes,
                "commands": written.commands,
                "facts": written.facts,
                "parity": parity,
                "parity_sentence": sentence,
            }
            # A format names its folder as it was given (the staging one); the folder it ends up in is this.
            written.commands[:] = [command.replace(str(staging), str(final)) for command in written.commands]
            written.notes[:] = [note.replace(str(staging), str(final)) for note in written.notes]
            atomic_write_json(staging / MANIFEST, manifest)
            _move_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"wrote {final}")
    return ExportResult(
        run_id=run_id,
        format=export_format.name,
        folder=str(final),
        files=files,
        parity_ok=None if report is None else report.ok,
        parity=parity,
        parity_sentence=sentence,
        notes=list(written.notes),
        commands=list(written.commands),
        facts=dict(written.facts),
        created_at=created,
    )
