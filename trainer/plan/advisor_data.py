"""Whether a data file agrees with the goal the method advisor chose: one sentence, with what to do, when not.

The disagreements people hit: a label column of free text where a classifier needs a few categories, numbers
where categories were meant (or the other way round), no image or audio files for a media task, and data of
another kind altogether (chats for a classifier).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.columns import LABEL_NAME_HINTS
from trainer.data.limits import OverBudget, in_budget
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape
from trainer.data.table import Table
from trainer.data.values import as_number
from trainer.inspection.isolated import INLINE_BYTES, INLINE_ROWS_BYTES, inspect_upload
from trainer.tasks.base import Purpose, Task
from trainer.tasks.registry import task_for_kind

# A label column whose values are mostly different and this many words long is free text, not categories.
FREE_TEXT_WORDS = 3
SAY = "say **treat it as {}**"


def _values(table: Table, column: str) -> list[str]:
    return [text for row in table.rows if (text := str(row.get(column) or "").strip())]


def _free_text(values: list[str]) -> bool:
    if len(values) < 2:
        return False
    words = sum(len(v.split()) for v in values) / len(values)
    return len(set(values)) > 0.5 * len(values) and words >= FREE_TEXT_WORDS


def _numbers(values: list[str]) -> list[float]:
    found = [n for v in values if (n := as_number(v)) is not None]
    return found if values and len(found) == len(values) else []


def _label_column(table: Table, shape: dict[str, Any] | None) -> str | None:
    if shape and shape["mapping"].get("label"):
        return str(shape["mapping"]["label"])
    return next((c for c in table.columns if c.lower().strip() in LABEL_NAME_HINTS), None)


def _free_text_note(name: str, column: str, values: list[str], purpose: Purpose) -> str:
    distinct = len(set(values))
    return (
        f"The '{column}' column of '{name}' holds free text ({distinct} different values), not a few categories, "
        f"so it cannot train {purpose.title}; give a column of a few labels, or, if the model should write such "
        "answers, rename the two columns prompt and completion to fine-tune a chat model (SFT) on them."
    )


def _category_check(name: str, table: Table, shape: dict[str, Any] | None, purpose: Purpose) -> str:
    column = _label_column(table, shape)
    if column is None:
        return ""
    values = _values(table, column)
    if _free_text(values):
        return _free_text_note(name, column, values, purpose)
    numbers = _numbers(values)
    if numbers and purpose.kind not in kinds.MEDIA:
        shown = ", ".join(f"{n:g}" for n in sorted(set(numbers))[:4])
        return (
            f"The '{column}' column of '{name}' holds numbers ({shown}, ...), not category names: if they are codes "
            f"for categories, go on (each number is a class); if they measure something, {SAY.format('regression')}."
        )
    return ""


def _read(path: Path) -> tuple[Table | None, dict[str, Any] | None, list[str]]:
    """The table (None when too large to read here), its detected shape (None when none fits) and its columns.

    A file the chat would inspect in a memory-limited child (trainer/inspection/isolated.py) is inspected there
    too, and only its kind and columns are checked."""
    if path.is_file() and path.stat().st_size <= INLINE_BYTES:
        try:
            with in_budget(INLINE_BYTES, INLINE_ROWS_BYTES):
                table = load_table(path)
        except OverBudget:
            table = None
        if table is not None:
            try:
                return table, detect_shape(table), list(table.columns)
            except UserError:
                return table, None, list(table.columns)
    report = inspect_upload(path)
    shape = {"task": report["task"], "mapping": report.get("mapping") or {}} if report.get("task") else None
    return None, shape, [str(c) for c in report.get("columns") or []]


def check(path: Path, task: Task, purpose: Purpose) -> tuple[str, str | None]:
    """One sentence when the file disagrees with the goal ("" when it agrees), and the data kind a plan should use
    (None when the data disagrees or detection already picks the goal's kind)."""
    name = path.name
    try:
        table, shape, columns = _read(path)
    except UserError as error:
        return str(error), None
    found = shape["task"] if shape else None
    if purpose.kind in kinds.MEDIA and found != purpose.kind:
        modality = "image" if purpose.kind == kinds.IMAGE_CLASSIFICATION else "audio"
        return (
            f"'{name}' has no column of {modality} files (its columns: {', '.join(columns[:6])}), so it cannot train "
            f"{purpose.title}; give {purpose.data}.",
            None,
        )
    if table is None:  # too large to read here: only its kind is checked
        return ("", None) if found in task.data_kinds else (_other_kind(name, found, purpose), None)
    if found in task.data_kinds:
        if purpose.labels == "categories":
            return _category_check(name, table, shape, purpose), None
        return "", None
    column = _label_column(table, shape)
    values = _values(table, column) if column else []
    if purpose.labels == "categories" and found == kinds.REGRESSION and column:
        return (
            f"The '{column}' column of '{name}' holds numbers with many different values, an amount rather than "
            f"categories; {SAY.format('regression')} to predict it as a number, or give a column of a few labels.",
            None,
        )
    if purpose.labels == "categories" and column and _free_text(values):
        return _free_text_note(name, column, values, purpose), None
    if purpose.labels == "numbers" and found in (None, *kinds.LABELLED_TEXT):
        numeric = [c for c in ([column] if column else table.columns) if _numbers(_values(table, c))]
        if numeric:
            return "", purpose.kind  # a score with few values: detection read classes (or none), the goal a number
    if purpose.labels == "numbers" and found in kinds.LABELLED_TEXT and column:
        return (
            f"The '{column}' column of '{name}' holds words, not numbers, so it cannot train {purpose.title}; give "
            f"a column of numbers, or {SAY.format('text classification')} to learn those words as classes.",
            None,
        )
    return _other_kind(name, found, purpose), None


def _other_kind(name: str, found: str | None, purpose: Purpose) -> str:
    if found is None:
        return f"'{name}' holds no data tunechat recognises; {purpose.title} needs {purpose.data}."
    other = task_for_kind(found)
    instead = f", or say **fine-tune on this** for {other.title} on what it holds" if other is not None else ""
    held = kinds.description(found)
    return f"'{name}' holds {held}, but {purpose.title} needs {purpose.data}; give such a file{instead}."
