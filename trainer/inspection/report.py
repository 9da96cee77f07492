"""The report shown after a user drops a data file: what is in it, which columns, and what to fix.

Classification reports count the same (text, label) rows that training uses (table_examples), so
the numbers the assistant quotes match what the model will see; other tasks get their own report
(chat_report, regression_report, media_report, text_report; streamed_report for large chat files).
Line numbers are file lines (the header is line 1 of a CSV/TSV), so the user can jump to them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from trainer.data import kinds
from trainer.data.columns import pick_columns
from trainer.data.examples import check_classes, table_examples
from trainer.data.read import load_table
from trainer.data.table import Table
from trainer.data.task_choice import normalize_task, resolve_shape
from trainer.inspection.chat_report import llm_report
from trainer.inspection.classification_problems import classification_problems, content_problems, duplicates
from trainer.inspection.media_report import media_report
from trainer.inspection.problems import LINES_SHOWN, SAMPLES, short, stats
from trainer.inspection.regression_report import regression_report
from trainer.inspection.streamed_report import stream_report, streamable_chat
from trainer.inspection.text_report import text_report
from trainer.inspection.tokens import counter_or_note, token_lengths
from trainer.plan.config import BUNDLED_MODEL, RunConfig

LLM_MAX_LENGTH = 1024  # the causal-LM planner's default; conversations are far longer than classifier texts
LABELS_LISTED = 50  # labels a report for the chat lists (the most frequent); num_classes still counts them all


def inspect_file(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    model: str | None = None,
    *,
    task: str | None = None,
    max_length: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
) -> dict[str, Any]:
    """Profile a data file: the task it is for and the columns used, counts, duplicates, lengths, problems.

    Every report has file, format, rows, usable_rows, columns, task, shape, mapping, confidence,
    task_reason, problems, samples, notes and length_tokens; classification reports keep text_column,
    label_column, labels and the rest. Raises UserError (one sentence naming the file) when the file
    cannot be used at all.
    """
    path = Path(path)
    defaults = RunConfig()
    given_max_length = max_length
    max_length = max_length or defaults.max_length
    val_fraction = defaults.val_fraction if val_fraction is None else val_fraction
    test_fraction = defaults.test_fraction if test_fraction is None else test_fraction

    if not text_column and not label_column and (task is None or normalize_task(task) == kinds.ANY_CONVERSATION):
        if streamable_chat(path):
            return stream_report(path, model, given_max_length or LLM_MAX_LENGTH)
    table = load_table(path)
    shape = resolve_shape(table, task, text_column, label_column)
    if shape["task"] not in kinds.LABELLED_TEXT:
        llm = shape["task"] in kinds.LANGUAGE_MODEL_DATA
        return _task_report(path, table, shape, model, given_max_length or (LLM_MAX_LENGTH if llm else max_length))
    text_column, label_column = shape["mapping"]["text"], shape["mapping"]["label"]
    choice = pick_columns(table, text_column, label_column)
    choice["text_reason"] = shape.get("text_reason") or choice["text_reason"]
    choice["label_reason"] = shape.get("label_reason") or choice["label_reason"]
    examples = table_examples(table, text_column, label_column)
    check_classes(table, examples, text_column, label_column)

    counts = Counter(examples.labels)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    total = len(examples.labels)
    labels = [{"label": label, "count": count, "share": round(count / total, 4)} for label, count in ordered]
    imbalance = round(ordered[0][1] / ordered[-1][1], 2)

    repeats, conflicts = duplicates(examples)
    notes: list[str] = []
    if not table.has_header:
        notes.append(
            f"The file has no header row, so its columns are named {', '.join(table.columns)} and line 1 is data."
        )
    if table.encoding not in ("utf-8", "utf-16"):
        notes.append(f"The file is not UTF-8; it was read as {table.encoding}.")
    length_tokens = token_lengths(examples.texts, model, max_length, notes)

    report: dict[str, Any] = {
        "file": path.name,
        "format": table.format,
        "encoding": table.encoding,
        "rows": len(table.rows),
        "usable_rows": total,
        "columns": list(table.columns),
        "text_column": text_column,
        "label_column": label_column,
        "text_reason": choice["text_reason"],
        "label_reason": choice["label_reason"],
        "labels": labels,
        "num_classes": len(labels),
        "imbalance_ratio": imbalance,
        "duplicates": {"count": len(repeats), "rows": repeats[:LINES_SHOWN]},
        "conflicting_duplicates": {
            "count": len(conflicts),
            "rows": sorted(line for group in conflicts for line in group["lines"])[:LINES_SHOWN],
            "examples": [{"text": short(g["text"]), "labels": g["labels"]} for g in conflicts[:SAMPLES]],
        },
        "empty_rows": {"count": len(examples.empty_lines), "rows": examples.empty_lines[:LINES_SHOWN]},
        "bad_lines": {"count": len(table.bad_lines), "rows": table.bad_lines[:LINES_SHOWN]},
        "length_chars": stats([len(t) for t in examples.texts]),
        "length_tokens": length_tokens,
        "samples": [
            {"text": short(text), "label": label, "line": line}
            for text, label, line in list(zip(examples.texts, examples.labels, examples.lines, strict=True))[:SAMPLES]
        ],
        "problems": [],
        "notes": notes + table.notes,
        **_shape_keys(shape),
    }
    if shape["mapping"].get("text_pair"):
        report["text_pair_column"] = shape["mapping"]["text_pair"]
    report["problems"] = classification_problems(
        table.repaired_lines,
        table.bad_lines,
        examples,
        repeats,
        conflicts,
        ordered,
        label_column,
        val_fraction,
        test_fraction,
    )
    report["problems"] += content_problems(table, examples, length_tokens, max_length, text_column, label_column)
    if length_tokens:
        length_tokens["tokens_per_epoch"] = round(length_tokens["mean"] * total * (1 - val_fraction - test_fraction))
    return report


def listed_labels(report: dict[str, Any]) -> dict[str, Any]:
    """The report as the chat gets it: at most LABELS_LISTED labels (the most frequent) and, when there are more,
    `labels_not_listed` saying how many (100,000 labels made a 2 MB message)."""
    labels = report.get("labels")
    if not isinstance(labels, list) or len(labels) <= LABELS_LISTED:
        return report
    shown = sorted(labels, key=lambda entry: -int(entry.get("count") or 0))[:LABELS_LISTED]
    return {**report, "labels": shown, "labels_not_listed": len(labels) - len(shown)}


def _shape_keys(shape: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": shape["task"],
        "shape": shape["shape"],
        "mapping": shape["mapping"],
        "confidence": shape["confidence"],
        "task_reason": shape["reason"],
    }


def _task_report(path: Path, table: Table, shape: dict[str, Any], model: str | None, max_length: int) -> dict[str, Any]:
    notes: list[str] = list(table.notes)
    if table.encoding not in ("utf-8", "utf-16"):
        notes.append(f"The file is not UTF-8; it was read as {table.encoding}.")
    token_model = model or BUNDLED_MODEL
    task = shape["task"]
    report: dict[str, Any] = {
        "file": path.name,
        "format": table.format,
        "encoding": table.encoding,
        "rows": len(table.rows),
        "columns": list(table.columns),
        **_shape_keys(shape),
        "notes": notes,
        "length_tokens": None,
    }
    counter = counter_or_note(token_model, notes) if task not in kinds.MEDIA else None
    if task in kinds.LANGUAGE_MODEL_DATA:
        report.update(llm_report(table, shape, counter, token_model, max_length, notes))
    elif task == kinds.REGRESSION:
        mapping = shape["mapping"]
        report.update(regression_report(table, mapping["text"], mapping["label"], counter, token_model, max_length))
        if mapping.get("text_pair"):
            report["text_pair_column"] = mapping["text_pair"]
    elif task in kinds.MEDIA:
        report.update(media_report(path, table, shape))
    else:
        report.update(text_report(table, shape["mapping"]["text"]))
        notes.append("The file has text but no labels or answers; add a label column or answers to fine-tune on it.")
    return report
