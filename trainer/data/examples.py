"""The (text, label) rows a classifier can use: the one definition training and inspection share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from trainer.core.errors import UserError
from trainer.data.columns import pick_columns
from trainer.data.read import load_table
from trainer.data.table import Table


@dataclass
class Examples:
    """The (text, label) rows a classifier can use, with their file lines, and the lines left out."""

    texts: list[str]
    labels: list[str]
    lines: list[int]
    empty_lines: list[int]
    # The second text of each row of a text-pair table; None for single texts.
    pairs: list[str] | None = None


def table_examples(table: Table, text_column: str, label_column: str, pair_column: str | None = None) -> Examples:
    """The rows with both text and label filled in (and the second text of a pair); the one definition training
    and inspection share."""
    texts, labels, lines, empty, pairs = [], [], [], [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        second = (row.get(pair_column) or "").strip() if pair_column else ""
        if text and label and (second or not pair_column):
            texts.append(text)
            labels.append(label)
            lines.append(line)
            pairs.append(second)
        else:
            empty.append(line)
    return Examples(texts, labels, lines, empty, pairs if pair_column else None)


def check_classes(table: Table, examples: Examples, text_column: str, label_column: str) -> None:
    """Raise UserError when the examples cannot train a classifier (no rows, or one class)."""
    name = table.path.name
    if not examples.texts:
        raise UserError(
            f"'{name}' has no row with both the text ('{text_column}') and the label ('{label_column}') "
            "filled in; fill them in or name other columns."
        )
    classes = Counter(examples.labels)
    if len(classes) < 2:
        raise UserError(
            f"The label column '{label_column}' in '{name}' has a single class ('{examples.labels[0]}'); "
            "a classifier needs at least two classes, so add examples of the other classes."
        )


def usable_examples(table: Table, text_column: str, label_column: str, pair_column: str | None = None) -> Examples:
    """table_examples after checking that the columns exist and the rows can train a classifier."""
    pick_columns(table, text_column, label_column)  # validates the names
    if pair_column and pair_column not in table.columns:
        raise UserError(
            f"There is no column '{pair_column}' in '{table.path.name}'; its columns are: {', '.join(table.columns)}."
        )
    examples = table_examples(table, text_column, label_column, pair_column)
    check_classes(table, examples, text_column, label_column)
    return examples


def load_examples(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Return the (text, label) pairs with both fields present; fail clearly when unusable."""
    examples = usable_examples(load_table(path), text_column, label_column)
    return examples.texts, examples.labels
