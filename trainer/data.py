"""Read a user's labelled-text file, pick its text and label columns, and split it.

Supports CSV, TSV (delimiter sniffed) and JSONL. Every problem the user can fix raises UserError
with one sentence naming the file, column or line.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from trainer.errors import UserError

TEXT_NAME_HINTS = ("text", "sentence", "message", "sms", "review", "content", "body", "comment", "query", "ticket")
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "liked", "intent", "y")


@dataclass
class Table:
    """A file read into memory: column names and rows of strings (None for a missing field)."""

    path: Path
    format: str
    columns: list[str]
    rows: list[dict[str, str | None]]
    bad_lines: list[int]


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"'{path.name}' is empty; upload a file with a header row and labelled texts.")
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(
            f"'{path.name}' looks like a binary file, not text; upload a CSV, TSV or JSONL file of labelled texts."
        )
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = raw.decode(encoding)
            if encoding == "utf-16" and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise UnicodeDecodeError(encoding, raw, 0, 1, "no BOM")
            return text
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def load_table(path: Path) -> Table:
    text = read_text(path)
    first = text.lstrip()[:1]
    if path.suffix.lower() in (".jsonl", ".ndjson") or (first == "{" and path.suffix.lower() != ".csv"):
        return _load_jsonl(path, text)
    return _load_delimited(path, text)


def _load_jsonl(path: Path, text: str) -> Table:
    rows: list[dict[str, str | None]] = []
    columns: dict[str, None] = {}
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if not isinstance(record, dict):
            bad.append(number)
            continue
        row = {str(k): (None if v is None else v if isinstance(v, str) else json.dumps(v)) for k, v in record.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    if not rows:
        raise UserError(f"'{path.name}' has no JSON objects one per line; upload JSONL with one record per line.")
    return Table(path, "jsonl", list(columns), rows, bad)


def _load_delimited(path: Path, text: str) -> Table:
    sample = text[:65536]
    if path.suffix.lower() == ".tsv":
        delimiter = "\t"
    elif path.suffix.lower() == ".csv":
        delimiter = ","
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    # QUOTE_NONE for TSV: real-world TSVs (like SMS collections) contain stray quote characters.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise UserError(f"'{path.name}' is empty; upload a file with a header row and labelled texts.") from None
    header = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
    rows: list[dict[str, str | None]] = []
    bad: list[int] = []
    for number, fields in enumerate(reader, start=2):
        if not fields or not any(f.strip() for f in fields):
            continue
        if len(fields) > len(header):
            # Extra delimiters inside the last (text) column: join them back rather than lose the row.
            fields = fields[: len(header) - 1] + [delimiter.join(fields[len(header) - 1 :])]
        if len(fields) < len(header):
            bad.append(number)
            fields = fields + [None] * (len(header) - len(fields))  # type: ignore[list-item]
        rows.append(dict(zip(header, fields, strict=True)))
    if len(header) < 2:
        raise UserError(
            f"'{path.name}' has only one column ('{header[0]}'); it needs a text column and a label column."
        )
    if not rows:
        raise UserError(f"'{path.name}' has a header but no rows; add labelled examples below the header.")
    return Table(path, "tsv" if delimiter == "\t" else "csv", header, rows, bad)


def _values(table: Table, column: str) -> list[str]:
    return [v.strip() for row in table.rows if (v := row.get(column)) is not None and v.strip()]


def pick_columns(table: Table, text_column: str | None = None, label_column: str | None = None) -> dict[str, str]:
    """Choose the text and label columns, with a one-line reason for each choice."""
    for given in (text_column, label_column):
        if given and given not in table.columns:
            raise UserError(
                f"There is no column '{given}' in '{table.path.name}'; its columns are: {', '.join(table.columns)}."
            )
    stats = {}
    for column in table.columns:
        values = _values(table, column)
        if not values:
            continue
        distinct = len(set(values))
        mean_length = sum(len(v) for v in values) / len(values)
        stats[column] = (distinct, mean_length, len(values))

    reasons = {}
    if not text_column:
        candidates = [c for c in stats if c != label_column and stats[c][1] >= 10 and stats[c][0] > 2]
        if not candidates:
            raise UserError(
                f"'{table.path.name}' has no column of free text (columns: {', '.join(table.columns)}); "
                "add one or name it with --text-column."
            )
        text_column = max(candidates, key=lambda c: (stats[c][1] * (1.5 if _hinted(c, TEXT_NAME_HINTS) else 1)))
        reasons["text_reason"] = (
            f"'{text_column}' holds the longest free text (mean {stats[text_column][1]:.0f} characters, "
            f"{stats[text_column][0]} distinct values)."
        )
    else:
        reasons["text_reason"] = f"'{text_column}' was named as the text column."

    if not label_column:
        limit = max(2, min(100, len(table.rows) // 5))
        candidates = [c for c in stats if c != text_column and 2 <= stats[c][0] <= limit]
        if not candidates:
            single = [c for c in stats if c != text_column and stats[c][0] == 1]
            if single:
                raise UserError(
                    f"The label column '{single[0]}' has a single class; a classifier needs at least two "
                    "classes, so add examples of the other classes."
                )
            raise UserError(
                f"'{table.path.name}' has no column that looks like a class label (few distinct values); "
                "add one or name it with --label-column."
            )
        label_column = max(candidates, key=lambda c: (_hinted(c, LABEL_NAME_HINTS), stats[c][2], -stats[c][0]))
        hint = " and its name says label" if _hinted(label_column, LABEL_NAME_HINTS) else ""
        reasons["label_reason"] = f"'{label_column}' has {stats[label_column][0]} distinct values{hint}."
    else:
        reasons["label_reason"] = f"'{label_column}' was named as the label column."
    return {"text_column": text_column, "label_column": label_column, **reasons}


def _hinted(column: str, hints: tuple[str, ...]) -> bool:
    name = column.strip().lower()
    return any(name == h or name.startswith(h + "_") or name.endswith("_" + h) for h in hints)


def load_examples(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Return the (text, label) pairs with both fields present; fail clearly when unusable."""
    table = load_table(path)
    pick_columns(table, text_column, label_column)  # validates the names
    texts, labels = [], []
    for row in table.rows:
        text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        if text and label:
            texts.append(text)
            labels.append(label)
    classes = Counter(labels)
    if len(classes) < 2:
        raise UserError(
            f"The label column '{label_column}' has {'a single class' if classes else 'no values'}; "
            "a classifier needs at least two classes, so add examples of the other classes."
        )
    return texts, labels


def stratified_split(
    labels: list[str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Split row indices into train/validation/test, keeping each class's share in every split."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    splits: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        n_test = round(len(indices) * test_fraction)
        n_val = round(len(indices) * val_fraction)
        # Every class keeps at least one training example.
        if n_test + n_val >= len(indices):
            n_test, n_val = min(n_test, max(0, len(indices) - 1)), 0
        splits["test"].extend(indices[:n_test])
        splits["validation"].extend(indices[n_test : n_test + n_val])
        splits["train"].extend(indices[n_test + n_val :])
    for part in splits.values():
        rng.shuffle(part)
    return splits
