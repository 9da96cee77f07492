"""Problems as every inspection report lists them: {code, count, rows, message}, rows being file lines,
and the checks every kind of data shares (personal data, examples repeated in the user's held-out files).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from trainer.data.table import Table
from trainer.inspection.personal_data import find_pii

PROBLEM_LINES = 5  # line numbers listed per problem
LINES_SHOWN = 10  # line numbers listed in a report's sections (duplicates, empty rows, ...)
SAMPLES = 3
SAMPLE_CHARS = 300


def lines_text(lines: list[int]) -> str:
    """'line 4' or 'lines 4, 7, 9, …' (the first few), to put inside a problem's sentence."""
    shown = ", ".join(str(n) for n in lines[:PROBLEM_LINES])
    more = ", …" if len(lines) > PROBLEM_LINES else ""
    return f"line {shown}" if len(lines) == 1 else f"lines {shown}{more}"


def problem(code: str, lines: list[int], message: str, count: int | None = None) -> dict[str, Any]:
    """A problem as reports list it; `count` defaults to the number of lines."""
    return {
        "code": code,
        "count": len(lines) if count is None else count,
        "rows": lines[:PROBLEM_LINES],
        "message": message,
    }


def stats(values: list[int] | list[float]) -> dict[str, Any]:
    """Nearest-rank percentiles (values that really occur in the data), maximum and mean; {} for no values."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> Any:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.5), "p95": rank(0.95), "max": ordered[-1], "mean": round(sum(ordered) / len(ordered), 1)}


def short(text: str) -> str:
    """A text cut to SAMPLE_CHARS for samples shown in a report."""
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def repeated_lines(texts: list[tuple[int, str]]) -> list[int]:
    """The lines whose text repeats the text of an earlier line, in order."""
    seen: set[str] = set()
    repeats = []
    for line, text in texts:
        if text in seen:
            repeats.append(line)
        seen.add(text)
    return repeats


def pii_problem(texts: list[tuple[int, str]]) -> dict[str, Any] | None:
    """Likely personal data (emails, phone numbers, card numbers passing Luhn) in (line, text) pairs."""
    kinds: Counter[str] = Counter()
    lines: list[int] = []
    for line, text in texts:
        found = find_pii(text)
        if found:
            kinds.update(found)
            if not lines or lines[-1] != line:
                lines.append(line)
    if not lines:
        return None
    listed = ", ".join(f"{'card numbers' if k == 'card' else k + 's'} ({n})" for k, n in sorted(kinds.items()))
    return problem(
        "personal_data",
        lines,
        f"{len(lines)} row{'s contain' if len(lines) > 1 else ' contains'} likely personal data: {listed} "
        f"({lines_text(lines)}); remove or mask it before training or sending the data to a provider.",
    )


def overlap_problem(table: Table, key: Callable[[Table, int], str | None]) -> dict[str, Any] | None:
    """Examples that appear in the training data and in a validation or test file the user brought."""
    if not table.splits:
        return None
    train = {k for i in range(len(table.rows)) if (k := key(table, i))}
    lines: list[int] = []
    where: Counter[str] = Counter()
    for name, split in table.splits.items():
        for i in range(len(split.rows)):
            k = key(split, i)
            if k and k in train:
                lines.append(split.lines[i])
                where[name] += 1
    if not lines:
        return None
    listed = " and ".join(f"{n} in {name}" for name, n in where.items())
    return problem(
        "split_overlap",
        lines,
        f"{len(lines)} example{'s' if len(lines) > 1 else ''} of the training data also appear in the held-out "
        f"files ({listed}, {lines_text(lines)} there); remove them from one side so the scores are honest.",
    )
