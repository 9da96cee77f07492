"""The inspection report of image or audio classification data (a folder per class, or paths with labels)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.table import Table
from trainer.inspection.problems import lines_text, problem


def media_report(path: Path, table: Table, info: dict[str, Any]) -> dict[str, Any]:
    """Images or audio with classes: the report of the task that trains them (files decoded, copies found, a
    contact sheet drawn) when one does, else class counts and the files named that are not next to the data file."""
    from trainer.core.workspace import workspace_root
    from trainer.tasks.registry import task_for_kind

    modality = getattr(task_for_kind(info["task"]), "modality", None)
    if modality is not None:
        from trainer.tasks.media.report import inspect_media

        label = info["mapping"].get("label")
        column = next((value for key, value in info["mapping"].items() if key != "label"), None)
        columns = {} if table.format == "folder" else {"file_column": column, "label_column": label}
        try:
            return inspect_media(path, modality, workspace_root(), **columns)
        except UserError as error:
            # Nothing trainable (say a table whose paths point outside the upload): still a report of what it names.
            report = _listed_files_report(path, table, info)
            report["problems"].insert(0, problem("no_usable_files", [], str(error), count=0))
            return report
    return _listed_files_report(path, table, info)


def _listed_files_report(path: Path, table: Table, info: dict[str, Any]) -> dict[str, Any]:
    kind = "image" if info["task"] == kinds.IMAGE_CLASSIFICATION else "audio"
    column, label = info["mapping"].get(kind), info["mapping"].get("label")
    counts: Counter[str] = Counter()
    missing = []
    folder = path if path.is_dir() else path.parent
    for row, line in zip(table.rows, table.lines, strict=True):
        if label and row.get(label):
            counts[str(row[label])] += 1
        file = str(row.get(column) or "")
        if table.format not in ("folder",) and file and not (folder / file).exists() and not Path(file).exists():
            missing.append(line)
    problems = []
    if missing:
        problems.append(
            problem(
                "missing_files",
                missing,
                f"{len(missing)} {kind} file{'s' if len(missing) > 1 else ''} named in '{column}' "
                f"{'are' if len(missing) > 1 else 'is'} not next to the data file ({lines_text(missing)}); upload them "
                f"together in one zip archive.",
            )
        )
    total = sum(counts.values())
    return {
        "usable_rows": total,
        "label_column": label,
        f"{kind}_column": column,
        "labels": [{"label": k, "count": v, "share": round(v / total, 4)} for k, v in counts.most_common()]
        if total
        else [],
        "num_classes": len(counts),
        "samples": [{**row, "line": line} for row, line in list(zip(table.rows, table.lines, strict=True))[:3]],
        "problems": problems,
    }
