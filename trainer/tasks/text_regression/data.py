"""The (text, number) rows a regression run trains on, the split, and the target's standardisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainer.core.errors import UserError
from trainer.data.columns import pick_columns
from trainer.data.splits import split_indices
from trainer.data.table import Table
from trainer.data.values import as_number
from trainer.inspection.problems import lines_text

# The target's range is cut into this many equal-count bins, and each bin is split on its own, so every split
# spans the whole range (a random split of a few hundred rows can leave the test split without the extremes).
TARGET_BINS = 5


@dataclass
class NumberedTexts:
    """Texts with the number to predict, their file lines, and the lines left out (and why)."""

    texts: list[str]
    values: list[float]
    lines: list[int]
    empty_lines: list[int]
    not_numbers: list[int]
    # The second text of each row when the number belongs to a pair of texts; None for single texts.
    pairs: list[str] | None = None


def regression_examples(
    table: Table, text_column: str, label_column: str, pair_column: str | None = None
) -> NumberedTexts:
    """The rows with a text (and second text, for pairs) and a finite number; UserError in one sentence when none
    has both."""
    pick_columns(table, text_column, label_column)  # validates the names
    if pair_column:
        pick_columns(table, pair_column, label_column)
    found = NumberedTexts([], [], [], [], [], [] if pair_column else None)
    for row, line in zip(table.rows, table.lines, strict=True):
        text, raw = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        second = (row.get(pair_column) or "").strip() if pair_column else ""
        if not text or not raw or (pair_column and not second):
            found.empty_lines.append(line)
            continue
        number = as_number(raw)
        if number is None or not math.isfinite(number):
            found.not_numbers.append(line)
            continue
        found.texts.append(text)
        if found.pairs is not None:
            found.pairs.append(second)
        found.values.append(float(number))
        found.lines.append(line)
    if not found.values:
        first = f" (the first is on {lines_text(found.not_numbers[:1])})" if found.not_numbers else ""
        raise UserError(
            f"'{table.path.name}' has no row with both a text in '{text_column}' and a number in '{label_column}'"
            f"{first}; put numbers in '{label_column}' or name the column of numbers with --label-column."
        )
    if len(set(found.values)) < 2:
        raise UserError(
            f"Every row of '{table.path.name}' has the same value in '{label_column}' ({found.values[0]:g}), so there "
            "is nothing to predict; add rows with other values."
        )
    return found


def left_out_sentence(found: NumberedTexts, label_column: str) -> str | None:
    """One sentence naming the column and lines of rows without a usable number, None when there are none."""
    if not found.not_numbers:
        return None
    count = len(found.not_numbers)
    rows = "rows have" if count > 1 else "row has"
    return (
        f"{count} {rows} a '{label_column}' that is not a number ({lines_text(found.not_numbers)}), so "
        f"{'they are' if count > 1 else 'it is'} left out; fix or delete {'them' if count > 1 else 'it'} to use "
        f"{'them' if count > 1 else 'it'}."
    )


def drop_repeats(
    texts: list[str], values: list[float], pairs: list[str] | None = None
) -> tuple[list[str], list[float], int, list[str] | None]:
    """Keep the first of each exact (text, second text, value) repeat, so no example is both trained on and
    tested."""
    seen: set[tuple[str, str, float]] = set()
    kept: list[int] = []
    for index, (text, value) in enumerate(zip(texts, values, strict=True)):
        key = (text, pairs[index] if pairs is not None else "", value)
        if key not in seen:
            seen.add(key)
            kept.append(index)
    kept_pairs = [pairs[i] for i in kept] if pairs is not None else None
    return [texts[i] for i in kept], [values[i] for i in kept], len(texts) - len(kept), kept_pairs


def target_bins(values: list[float], bins: int = TARGET_BINS) -> list[str]:
    """Each value's bin of equal counts (by rank), as a label the stratified splitter keeps in every split."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    found = [""] * len(values)
    for rank, index in enumerate(order):
        found[index] = f"bin{rank * bins // max(1, len(values))}"
    return found


def split_by_target(values: list[float], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Train/validation/test indices, each split drawn from every part of the target's range."""
    return split_indices(len(values), val_fraction, test_fraction, seed, labels=target_bins(values))


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (1.0 for a constant, so standardising never divides by 0)."""
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    return mean, std if std > 0 else 1.0
