"""The shape a table is used as: the one detected, or the task and columns the user chose.

"treat it as regression", --task sft or --text-column review override what detection found; a
choice the data cannot support is refused in one sentence naming the file.
"""

from __future__ import annotations

from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.columns import pick_columns
from trainer.data.shapes import detect_shape
from trainer.data.table import Table
from trainer.data.values import as_number


def normalize_task(task: str) -> str:
    """The kind a user's word for their data names (dpo -> preference; chat -> kinds.ANY_CONVERSATION).

    UserError when the word names none.
    """
    key = task.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in kinds.ALIASES:
        raise UserError(
            f"'{task}' is not a task tunechat knows; use text-classification, text-pair-classification, regression, "
            "sft, preference (dpo), kto, image-classification or audio-classification."
        )
    return kinds.ALIASES[key]


def resolve_shape(
    table: Table, task: str | None = None, text_column: str | None = None, label_column: str | None = None
) -> dict[str, Any]:
    """The detected shape, or the one the user asked for (a task and/or the text and label columns)."""
    name = table.path.name
    for given in (text_column, label_column):
        if given and given not in table.columns:
            raise UserError(f"There is no column '{given}' in '{name}'; its columns are: {', '.join(table.columns)}.")
    wanted = normalize_task(task) if task else None
    if not wanted and not text_column and not label_column:
        return detect_shape(table)
    try:
        detected: dict[str, Any] | None = detect_shape(table)
    except UserError:
        detected = None
    found = detected["task"] if detected else None
    if wanted is None:
        # Naming the columns without a task means a classifier on them (as before tasks existed).
        pair = found == kinds.TEXT_PAIR_CLASSIFICATION
        wanted = kinds.TEXT_PAIR_CLASSIFICATION if pair else kinds.TEXT_CLASSIFICATION
    if wanted == kinds.ANY_CONVERSATION and found in kinds.CONVERSATIONS:
        return dict(detected or {})
    if wanted == found and wanted in (kinds.PREFERENCE, kinds.KTO, kinds.TEXT):
        return dict(detected or {})
    if wanted in kinds.MEDIA and wanted == found and detected:
        if label_column:
            detected["mapping"]["label"] = label_column
        return detected
    if wanted in kinds.LABELLED_TEXT:
        mapping = dict(detected["mapping"]) if detected and found == wanted else {}
        if wanted == kinds.TEXT_PAIR_CLASSIFICATION and not mapping.get("text_pair"):
            raise UserError(
                f"'{name}' does not have two text columns with a label (like premise and hypothesis); "
                "name them or choose another task."
            )
        choice = pick_columns(table, text_column or mapping.get("text"), label_column or mapping.get("label"))
        mapping.update(text=choice["text_column"], label=choice["label_column"])
        return {
            "task": wanted,
            "shape": "text-pair+label" if wanted == kinds.TEXT_PAIR_CLASSIFICATION else "text+label",
            "mapping": mapping,
            "confidence": 1.0,
            "reason": "You chose the task or columns.",
            "text_reason": choice["text_reason"],
            "label_reason": choice["label_reason"],
        }
    if wanted == kinds.REGRESSION:
        label = label_column or (detected["mapping"]["label"] if detected and found == kinds.REGRESSION else None)
        label = label or _numeric_column(table, exclude=text_column)
        if not label:
            raise UserError(
                f"'{name}' has no column of numbers to predict that tunechat could find; name it with --label-column."
            )
        text = text_column or pick_columns(table, label_column=label)["text_column"]
        mapping = {"text": text, "label": label}
        if detected and found == kinds.REGRESSION and detected["mapping"]["label"] == label and not text_column:
            mapping = dict(detected["mapping"])  # two texts and a number, as detected
        return {
            "task": kinds.REGRESSION,
            "shape": "text-pair+number" if mapping.get("text_pair") else "text+number",
            "mapping": mapping,
            "confidence": 1.0,
            "reason": f"You chose regression: predict the number in '{label}' from '{text}'.",
        }
    described = f"{found} data ({detected['reason']})" if detected else "data of an unknown shape"
    raise UserError(f"'{name}' holds {described}, not {wanted} data; pick the task that fits it or upload other data.")


def _numeric_column(table: Table, exclude: str | None = None) -> str | None:
    """The column of numbers with the most distinct values (integer ratings count when asked for regression)."""
    best: tuple[int, str] | None = None
    for column in table.columns:
        if column == exclude:
            continue
        present = [v for row in table.rows if (v := (row.get(column) or "").strip())]
        numbers = [n for v in present if (n := as_number(v)) is not None]
        if present and len(numbers) >= 0.9 * len(present) and len(set(numbers)) >= 3:
            if best is None or len(set(numbers)) > best[0]:
                best = (len(set(numbers)), column)
    return best[1] if best else None
