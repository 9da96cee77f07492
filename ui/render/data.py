"""Data as the chat shows it: the inspection report of a file, and what prepare did to it."""

from __future__ import annotations

import json
from typing import Any

from trainer.data import kinds
from trainer.data.placeholders import question
from ui.render.format import fmt_number, table
from ui.render.safe import code, data_text, prose

LABELS_SHOWN = 20  # rows of a label table in a chat message; a file can hold 100,000 labels


def render_inspection(report: dict[str, Any]) -> str:
    if report.get("task") not in (None, *kinds.LABELLED_TEXT):
        return render_task_report(report)
    parts = [
        f"**{data_text(report.get('file', 'Your file'))}**: {report.get('rows', 0)} rows "
        f"({data_text(report.get('format', '?'))}), columns {', '.join(code(c) for c in report.get('columns', []))}.",
        f"- Text column: {code(report.get('text_column'))}. {prose(report.get('text_reason', ''))}",
        f"- Label column: {code(report.get('label_column'))}. {prose(report.get('label_reason', ''))}",
    ]
    labels = report.get("labels") or []
    if labels:
        parts.append("")
        parts += _label_table(report)

    def count(key: str) -> int:
        return int((report.get(key) or {}).get("count", 0))

    facts = [f"duplicates: {count('duplicates')}", f"empty rows: {count('empty_rows')}"]
    if count("conflicting_duplicates"):
        facts.append(f"same text with different labels: {count('conflicting_duplicates')}")
    if count("bad_lines"):
        facts.append(f"unreadable lines: {count('bad_lines')}")
    parts.append("")
    parts.append("- " + ", ".join(facts) + ".")
    chars = report.get("length_chars") or {}
    tokens = report.get("length_tokens") or {}
    if chars:
        line = (
            f"- Text length in characters: median {chars.get('p50')}, "
            f"95th percentile {chars.get('p95')}, max {chars.get('max')}"
        )
        if tokens:
            line += f"; in tokens: median {tokens.get('p50')}, 95th percentile {tokens.get('p95')}, max {_most(tokens)}"
        parts.append(line + ".")
    problems = report.get("problems") or []
    if problems:
        parts.append("")
        parts.append("**Problems found:**")
        parts += [
            f"- {code(p['code'])}" + (f" ({p['count']} rows)" if p.get("rows") else "") + f": {prose(p['message'])}"
            for p in problems
        ]
    return "\n".join(parts)


def render_task_report(report: dict[str, Any]) -> str:
    """Inspection of data that is not text classification: task, mapping, counts, lengths, problems."""
    task = str(report.get("task"))
    mapping = ", ".join(f"{data_text(role)} → {code(column)}" for role, column in (report.get("mapping") or {}).items())
    parts = [
        f"**{data_text(report.get('file', 'Your file'))}**: {report.get('rows', 0)} rows "
        f"({data_text(report.get('format', '?'))}), {report.get('usable_rows', 0)} usable.",
        f"- Looks like data for **{data_text(kinds.title(task))}** (confidence {report.get('confidence', 0):.0%}). "
        f"{prose(report.get('task_reason', ''))}",
    ]
    if mapping:
        parts.append(f"- Columns used: {mapping}.")
    rows: list[list[Any]] = []
    tokens = report.get("length_tokens") or {}
    if tokens:
        rows.append(["tokens per example", tokens.get("p50"), tokens.get("p95"), _most(tokens)])
    chars = report.get("length_chars") or {}
    if chars:
        rows.append(["characters per example", chars.get("p50"), chars.get("p95"), chars.get("max")])
    turns = report.get("messages_per_example") or {}
    if turns:
        rows.append(["messages per example", turns.get("p50"), turns.get("p95"), turns.get("max")])
    if rows:
        parts += ["", table(["", "median", "95th percentile", "max"], rows), ""]
    if tokens.get("tokens_per_epoch"):
        tokens_per_epoch = fmt_number(tokens["tokens_per_epoch"])
        parts.append(f"- About {tokens_per_epoch} tokens per epoch ({data_text(tokens.get('model'))}).")
    placeholders = report.get("placeholders") or {}
    if placeholders:
        kept = "They are filled in when the data is loaded; the file stays as it is."
        parts.append(f"- {prose(question(placeholders))} {kept}")
    target = report.get("target") or {}
    if target:
        parts.append(
            f"- Target {code(report.get('label_column'))}: from {data_text(target.get('min'))} to "
            f"{data_text(target.get('max'))}, mean {data_text(target.get('mean'))}, "
            f"{data_text(target.get('distinct'))} distinct values."
        )
    facts = report.get("media_facts") or {}
    if facts:
        parts += [f"- {data_text(name)}: {data_text(value)}." for name, value in facts.items()]
    labels = report.get("labels") or []
    if labels:
        parts += ["", *_label_table(report)]
    problems = report.get("problems") or []
    if problems:
        parts += ["", "**Problems found:**"]
        parts += [f"- {code(p['code'])} ({p['count']}): {prose(p['message'])}" for p in problems]
    else:
        parts += ["", "No problems found."]
    parts += [f"_{prose(note)}_" for note in report.get("notes") or []]
    return "\n".join(parts)


def _label_table(report: dict[str, Any]) -> list[str]:
    """The most frequent LABELS_SHOWN labels as a table, and a line saying how many more there are."""
    labels = report.get("labels") or []
    shown = labels[:LABELS_SHOWN]
    # Labels are data: escaped.
    parts = [
        table(["label", "rows", "share"], [[data_text(e["label"]), e["count"], f"{e['share']:.1%}"] for e in shown])
    ]
    more = len(labels) - len(shown) + int(report.get("labels_not_listed") or 0)
    if more > 0:
        total = len(shown) + more
        parts.append(f"- …and {more:,} more label{'s' if more != 1 else ''} ({total:,} in all).")
    return parts


def _most(tokens: dict[str, Any]) -> str:
    """The longest text's token count; a text cut before counting makes it a lower bound."""
    return f"at least {tokens.get('max')}" if tokens.get("cut_texts") else str(tokens.get("max"))


def render_prepared(manifest: dict[str, Any]) -> str:
    """What `prepare_data` did: the steps, counts before and after, the files, and a before/after sample."""
    counts = manifest.get("counts", {})
    parts = [
        f"Prepared **{data_text(manifest.get('source', {}).get('file'))}** as "
        f"{code(manifest.get('folder') or manifest.get('path'))} ({data_text(manifest.get('format'))}): "
        f"{counts.get('before')} rows before, {counts.get('after')} after. The original upload is unchanged.",
    ]
    steps = manifest.get("steps") or []
    if steps:
        rows = [[data_text(s["step"]), s["removed"], prose(s["detail"])] for s in steps]
        parts += ["", table(["step", "rows removed", "what"], rows)]
    else:
        parts.append("- Nothing needed fixing.")
    splits = counts.get("splits") or {}
    if splits:
        files = ", ".join(f"{code(manifest['files'][k])} ({n} rows)" for k, n in splits.items())
        parts.append(f"- Files: {files}.")
    samples = manifest.get("samples") or {}
    for label, key in (("Before", "before"), ("After", "after")):
        examples = samples.get(key) or []
        if examples:
            shown = json.dumps(examples[0], ensure_ascii=False)
            parts.append(f"- {label}: {code(shown[:300] + ('…' if len(shown) > 300 else ''))}")
    return "\n".join(parts)
