"""The inspection report of texts with a number to predict (regression)."""

from __future__ import annotations

import math
from typing import Any

from trainer.core.errors import UserError
from trainer.data.table import Table
from trainer.data.values import as_number
from trainer.inspection.problems import lines_text, pii_problem, problem, repeated_lines, short, stats
from trainer.inspection.tokens import TokenCounter, token_stats


def regression_report(
    table: Table,
    text_column: str,
    label_column: str,
    count_tokens: TokenCounter | None,
    token_model: str,
    max_length: int,
) -> dict[str, Any]:
    """Texts with a number to predict: the target's range and spread, lengths, and rows without a number."""
    values: list[float] = []
    texts: list[tuple[int, str]] = []
    empty, not_numbers = [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        text, raw = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        if not text or not raw:
            empty.append(line)
            continue
        number = as_number(raw)
        if number is None or math.isinf(number):
            not_numbers.append(line)
            continue
        values.append(number)
        texts.append((line, text))
    if not values:
        raise UserError(
            f"'{table.path.name}' has no row with a number in '{label_column}' to predict; name the column of "
            "numbers with --label-column, or choose another task."
        )
    problems = []
    if empty:
        problems.append(
            problem(
                "empty_rows",
                empty,
                f"{len(empty)} row{'s have' if len(empty) > 1 else ' has'} an empty text or value "
                f"({lines_text(empty)}) and will be left out; fill them in or delete them.",
            )
        )
    if not_numbers:
        problems.append(
            problem(
                "non_numeric_labels",
                not_numbers,
                f"{len(not_numbers)} row{'s have' if len(not_numbers) > 1 else ' has'} a '{label_column}' that is "
                f"not a number (or is NaN) ({lines_text(not_numbers)}); fix or delete them.",
            )
        )
    duplicates = repeated_lines(texts)
    if duplicates:
        problems.append(
            problem(
                "duplicates",
                duplicates,
                f"{len(duplicates)} row{'s repeat' if len(duplicates) > 1 else ' repeats'} the text of an earlier row "
                f"({lines_text(duplicates)}); remove the copies.",
            )
        )
    found = pii_problem(texts)
    if found:
        problems.append(found)
    tokens = token_stats(texts, count_tokens, token_model, max_length)
    if tokens:
        tokens.pop("long_lines", None)
    mean, spread = _mean_and_spread(values)
    return {
        "usable_rows": len(values),
        "text_column": text_column,
        "label_column": label_column,
        "target": {
            "min": min(values, default=None),
            "max": max(values, default=None),
            "mean": round(mean, 4),
            "std": round(spread, 4),
            "distinct": len(set(values)),
        },
        "length_chars": stats([len(t) for _, t in texts]),
        "length_tokens": tokens,
        "duplicates": {"count": len(duplicates), "rows": duplicates[:10]},
        "empty_rows": {"count": len(empty), "rows": empty[:10]},
        "samples": [
            {"text": short(t), "label": v, "line": line} for (line, t), v in list(zip(texts, values, strict=True))[:3]
        ],
        "problems": problems,
    }


def _mean_and_spread(values: list[float]) -> tuple[float, float]:
    """Mean and standard deviation, computed on values scaled into [-1, 1] so that targets near the float limit
    (1e308) cannot overflow a square."""
    if not values:
        return 0.0, 0.0
    scale = max(abs(v) for v in values) or 1.0
    scaled = [v / scale for v in values]
    mean = math.fsum(scaled) / len(scaled)
    spread = math.sqrt(math.fsum((x - mean) ** 2 for x in scaled) / len(scaled))
    return mean * scale, spread * scale
