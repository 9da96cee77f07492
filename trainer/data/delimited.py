"""Delimited text (CSV, TSV, ; or | separated) and plain text (one example per line) as Tables.

The delimiter, the quoting and whether the first line is a header are sniffed; lines that cannot be
read are skipped and reported, and extra delimiters inside the free text are joined back into it.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from trainer.core.errors import UserError
from trainer.data.table import ReadOnlyDict, Table

# Real exports contain single fields far above csv's 128 KiB default (long reviews, pasted documents).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_UNREADABLE = "\x00unreadable"
FASTTEXT_LABEL = re.compile(r"^((?:__label__\S+\s+)+)(.*)$")


def _pick_delimiter(path: Path, text: str) -> str:
    header = next((line for line in text.split("\n") if line.strip()), "")
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    preferred = {".tsv": "\t", ".tab": "\t", ".csv": ","}.get(path.suffix.lower())
    if preferred and counts[preferred]:
        return preferred
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    return preferred or ","


def _parse(text: str, delimiter: str, quoting: Literal[0, 1, 2, 3]) -> list[tuple[int, list[str]]]:
    """Records with the file line each one starts on (quoted fields may span several lines)."""
    # newline="\n": only \n ends a line, so line numbers match what an editor shows.
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter, quoting=quoting)
    records = []
    previous_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            records.append((previous_end + 1, [_UNREADABLE]))  # reported as a bad line
            previous_end = reader.line_num
            continue
        records.append((previous_end + 1, fields))
        previous_end = reader.line_num
    return records


def load_delimited(path: Path, text: str) -> Table:
    """Rows of a delimited (or plain) text file; UserError when no row can be read."""
    # Windows line ends become \n; a lone \r is an old Mac line end, or else a stray one inside a text.
    text = text.replace("\r\n", "\n")
    text = text.replace("\r", "\n") if "\n" not in text else text.replace("\r", " ")
    plain = _load_plain_text(path, text)
    if plain is not None:
        return plain
    delimiter = _pick_delimiter(path, text)
    # Parse with and without quote handling and keep the reading that gives more well-formed rows:
    # real TSVs (like SMS collections) carry stray quote characters, while CSVs quote fields that
    # contain commas and newlines. Ties go to plain TSV and to quoted CSV.
    parses = {}
    for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_NONE):
        records = _parse(text, delimiter, quoting)
        records = [(line, f) for line, f in records if f and any(x.strip() for x in f)]
        width = len(records[0][1]) if records else 0
        parses[quoting] = (sum(len(f) == width for _, f in records[1:]), records)
    plain_tsv = delimiter == "\t" and not text.lstrip().startswith('"')
    order = (csv.QUOTE_NONE, csv.QUOTE_MINIMAL) if plain_tsv else (csv.QUOTE_MINIMAL, csv.QUOTE_NONE)
    records_list = parses[max(order, key=lambda q: parses[q][0])][1]  # max keeps the first on ties
    if not records_list:
        raise UserError(f"'{path.name}' is empty; upload a file with a header row and labelled texts.")

    _, header = records_list[0]
    body = records_list[1:]
    has_header = not _looks_like_data(header, [f for _, f in body])
    if not has_header:
        body = records_list
        header = [f"column_{i + 1}" for i in range(len(header))]
    header = _unique([name.strip() or f"column_{i + 1}" for i, name in enumerate(header)])
    if len(header) < 2:
        raise UserError(
            f"'{path.name}' has only one column ('{_clip(header[0])}'); it needs a text column and a label column "
            "separated by commas or tabs."
        )

    width = len(header)
    good = [f for _, f in body if len(f) == width]
    # Extra delimiters are most likely unquoted ones inside the free text: join them back into the
    # column that holds the longest values, instead of shifting the label into the wrong place.
    means = [sum(len(f[i]) for f in good) / len(good) if good else 0.0 for i in range(width)]
    text_index = max(range(width), key=lambda i: (means[i], i))

    rows: list[dict[str, str | None]] = []
    lines: list[int] = []
    bad: list[int] = []
    repaired: list[int] = []
    for number, fields in body:
        if fields == [_UNREADABLE] or len(fields) < width:
            bad.append(number)
            continue
        if len(fields) > width:
            extra = len(fields) - width
            joined = delimiter.join(fields[text_index : text_index + extra + 1])
            fields = fields[:text_index] + [joined] + fields[text_index + extra + 1 :]
            repaired.append(number)
        rows.append(ReadOnlyDict(zip(header, fields, strict=True)))
        lines.append(number)
    if not rows:
        if bad:
            raise UserError(
                f"'{path.name}' has no readable rows below the header ({len(bad)} lines, e.g. line {bad[0]}, have "
                f"fewer than its {width} fields); check the delimiter and quoting."
            )
        raise UserError(f"'{path.name}' has a header but no rows; add labelled examples below the header.")
    fmt = "tsv" if delimiter == "\t" else "csv"
    return Table(path, fmt, header, rows, bad, lines=lines, repaired_lines=repaired, has_header=has_header)


def _load_plain_text(path: Path, text: str) -> Table | None:
    """One example per line: fastText's `__label__x text` lines, or (for .txt) bare lines of text."""
    numbered = [(n, line.strip()) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not numbered:
        return None
    labelled = [(n, FASTTEXT_LABEL.match(line)) for n, line in numbered]
    if sum(1 for _, m in labelled if m) >= 0.8 * len(numbered):
        rows: list[dict[str, str | None]] = []
        lines, bad = [], []
        for number, match in labelled:
            if not match:
                bad.append(number)
                continue
            labels = [x.removeprefix("__label__") for x in match.group(1).split()]
            rows.append(ReadOnlyDict(text=match.group(2).strip(), label=",".join(labels)))
            lines.append(number)
        return Table(path, "fasttext", ["text", "label"], rows, bad, lines=lines, has_header=False)
    header = numbered[0][1]
    if path.suffix.lower() in (".txt", "") and not any(d in header for d in (",", "\t", ";", "|")):
        rows = [ReadOnlyDict(text=line) for _, line in numbered]
        return Table(path, "text", ["text"], rows, [], lines=[n for n, _ in numbered], has_header=False)
    return None


def _clip(value: str, limit: int = 40) -> str:
    """Keep user values short inside one-sentence messages."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _unique(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    result = []
    for name in names:
        seen[name] += 1
        result.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return result


def _looks_like_data(header: list[str], body: list[list[str]]) -> bool:
    """True when the first row is an example rather than column names (a file saved without a header)."""
    if not body:
        return False
    # A first-row value that recurs in a low-cardinality column is a label value, not a name.
    for i, cell in enumerate(header):
        column = [row[i] for row in body if len(row) > i]
        if not cell.strip() or not column:
            continue
        distinct = set(column)
        if len(distinct) <= max(2, len(column) // 5) and column.count(cell) >= 2:
            return True
    return False
