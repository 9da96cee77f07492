"""What the Data room shows, as plain data (no Gradio): this chat's files, the first rows of one, what the inspection
found (the task, the columns it uses, its problems with line numbers) and the media it drew or wrote (a contact sheet,
a few recordings). Only tunechat's own files are offered to show: the contact sheet and recordings are taken from the
inspection's known keys and checked again (agent/images.py, agent/clips.py); nothing a cell says is opened."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from agent.clips import result_clips
from agent.images import shown_image
from trainer.core.workspace import Workspace
from trainer.data.limits import OverBudget, in_budget
from trainer.data.read import load_table
from trainer.inspection.isolated import INLINE_BYTES, INLINE_ROWS_BYTES
from trainer.inspection.problems import lines_text
from ui.render.safe import code, prose

PREVIEW_ROWS = 20
# Characters of a cell shown in the preview; the rest is cut with an ellipsis.
CELL_CHARS = 200
# Recordings offered to play.
CLIPS_SHOWN = 4
NO_CHAT = "Drop a data file into the chat first: this tab shows the files of the chat on screen, and only those."
NO_FILES = "This chat has no files yet: drop a CSV, TSV, JSONL, Parquet or zip file into the chat."


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


class ReportCache:
    """The last inspection reports by file and version (path, size, modification time): opening the tab again does
    not inspect an unchanged file again (a large one is read by a child process, which takes a while)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._reports: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, inspect: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._reports:
                self._reports.move_to_end(key)
                return self._reports[key]
        report = inspect()
        with self._lock:
            self._reports[key] = report
            while len(self._reports) > self.size:
                self._reports.popitem(last=False)
        return report


def file_choices(files: Sequence[Path]) -> list[tuple[str, str]]:
    """(label, name) per file: the name the chat knows it by, with its size."""
    return [(f"{path.name} ({size_text(path.stat().st_size)})", path.name) for path in files if path.is_file()]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def preview_frame(path: Path, report: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The first rows of the file with their line numbers. A file too large to read here (the inspection read it in
    a child process) is previewed by the inspection's sample rows instead."""
    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    if path.is_file() and path.stat().st_size <= INLINE_BYTES:
        try:
            with in_budget(INLINE_BYTES, INLINE_ROWS_BYTES):
                table = load_table(path)
            columns = list(table.columns)
            rows = [{"line": line, **row} for row, line in zip(table.rows[:PREVIEW_ROWS], table.lines, strict=False)]
        except OverBudget:
            rows = []
    if not rows and report is not None:
        rows = [dict(sample) for sample in report.get("samples") or [] if isinstance(sample, Mapping)]
        columns = [key for key in (rows[0] if rows else {}) if key != "line"]
    headers = ["line", *[column for column in columns if column != "line"]]
    return pd.DataFrame([[_cell(row.get(column)) for column in headers] for row in rows], columns=headers)


def overview_markdown(report: Mapping[str, Any]) -> str:
    """The task the inspection detected, why, the columns it uses and the rows it can train on."""
    task = str(report.get("task") or "unknown")
    lines = [f"**Detected task: {code(task)}**" + _confidence(report.get("confidence"))]
    if report.get("task_reason"):
        lines.append(prose(str(report["task_reason"])))
    mapping = report.get("mapping") or {}
    if isinstance(mapping, Mapping) and mapping:
        lines.append("Columns used: " + ", ".join(f"{role} = {code(str(column))}" for role, column in mapping.items()))
    counts = [f"{report['rows']} rows" if isinstance(report.get("rows"), int) else ""]
    if isinstance(report.get("usable_rows"), int):
        counts.append(f"{report['usable_rows']} usable")
    if isinstance(report.get("num_classes"), int):
        counts.append(f"{report['num_classes']} classes")
    if any(counts):
        lines.append(" · ".join(part for part in counts if part))
    labels = report.get("labels") or []
    if labels:
        shown = ", ".join(f"{code(str(item['label']))} {item['count']}" for item in labels[:10] if "label" in item)
        lines.append("Labels: " + shown + (", …" if len(labels) > 10 else ""))
    for note in report.get("notes") or []:
        lines.append(prose(str(note)))
    return "\n\n".join(lines)


def _confidence(value: Any) -> str:
    return f" (confidence {value})" if isinstance(value, str) and value else ""


PROBLEM_HEADERS = ["lines", "problem"]


def problems_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per problem the inspection found: the file lines it names (or how many files) and its sentence."""
    rows = []
    for problem in report.get("problems") or []:
        lines = [line for line in problem.get("rows") or [] if isinstance(line, int)]
        where = lines_text(lines) if lines else f"{problem.get('count', '')} files" if problem.get("files") else ""
        rows.append([where, str(problem.get("message") or problem.get("code") or "")])
    return pd.DataFrame(rows, columns=PROBLEM_HEADERS)


def media_of(report: Mapping[str, Any], workspace: Workspace) -> tuple[str | None, list[str]]:
    """(the contact sheet, the recordings) the inspection wrote for media data, as checked real paths: the sheet
    only from its known key and only a PNG inside the contact-sheet folder, recordings only WAVs in the clip folder."""
    value = report.get("contact_sheet_png")
    sheet = shown_image(value, workspace) if isinstance(value, str) and value else None
    return (str(sheet) if sheet else None), result_clips("inspect_data", report, workspace)[:CLIPS_SHOWN]
