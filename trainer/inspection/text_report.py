"""The inspection report of plain text without labels or answers (one example per line)."""

from __future__ import annotations

from typing import Any

from trainer.data.table import Table
from trainer.inspection.problems import lines_text, pii_problem, problem, repeated_lines, short, stats


def text_report(table: Table, column: str) -> dict[str, Any]:
    """Text without labels or answers: lengths, repeated lines and personal data."""
    texts = [(line, (row.get(column) or "").strip()) for row, line in zip(table.rows, table.lines, strict=True)]
    texts = [(line, t) for line, t in texts if t]
    problems = []
    duplicates = repeated_lines(texts)
    if duplicates:
        problems.append(
            problem(
                "duplicates",
                duplicates,
                f"{len(duplicates)} line{'s repeat' if len(duplicates) > 1 else ' repeats'} an earlier line "
                f"({lines_text(duplicates)}); drop them with `tunechat prepare --dedupe`.",
            )
        )
    found = pii_problem(texts)
    if found:
        problems.append(found)
    return {
        "usable_rows": len(texts),
        "text_column": column,
        "length_chars": stats([len(t) for _, t in texts]),
        "duplicates": {"count": len(duplicates), "rows": duplicates[:10]},
        "samples": [{"text": short(t), "line": line} for line, t in texts[:3]],
        "problems": problems,
    }
