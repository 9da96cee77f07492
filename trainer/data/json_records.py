"""JSON files as Tables: JSON lines, an array of records, {"data": [...]} and columns of lists.

Each record keeps the file line it starts on, so problems can be reported at the line to fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from trainer.core.errors import UserError
from trainer.data.containers import json_columns
from trainer.data.json_text import loads, raw_decode
from trainer.data.table import Table, record_table


def load_json_object_or_lines(path: Path, text: str) -> Table:
    """A text starting with '{': one JSON document ({"data": [...]}, columns of lists) or JSON lines."""
    # A pretty-printed {"data": [...]} is one JSON document, not JSON lines; look for its list of records.
    try:
        document = loads(text)
    except json.JSONDecodeError:
        return _load_jsonl(path, text)
    columns = json_columns(document)
    if columns is not None:
        return record_table(path, "json", list(enumerate(columns, start=1)), [])
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            key = next(k for k, v in document.items() if v is lists[0])
            found = [i for q in (json.dumps(key, ensure_ascii=False), json.dumps(key)) if (i := text.find(q)) >= 0]
            return load_json_array(path, text, start=text.index("[", found[0] if found else 0))
    return _load_jsonl(path, text)


def _load_jsonl(path: Path, text: str) -> Table:
    records: list[tuple[int, dict]] = []
    bad: list[int] = []
    not_objects: list[int] = []
    # split("\n"), not splitlines(): U+2028 and friends are legal inside JSON strings and are not line ends.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if not isinstance(record, dict):
            bad.append(number)
            not_objects.append(number)
            continue
        records.append((number, record))
    if not records:
        raise UserError(
            f"'{path.name}' has no JSON objects, one per line (e.g. line {bad[0] if bad else 1}); "
            'upload JSON lines like {"text": "...", "label": "..."}.'
        )
    table = record_table(path, "jsonl", records, bad)
    table.non_object_lines = not_objects
    return table


def load_json_array(path: Path, text: str, start: int | None = None) -> Table:
    """Parse a JSON array one element at a time, so each record knows its line."""
    pos = text.index("[") if start is None else start
    pos += 1
    line, counted = 1 + text.count("\n", 0, pos), pos
    records: list[tuple[int, dict]] = []
    whitespace = re.compile(r"[\s,]*")
    while True:
        pos = whitespace.match(text, pos).end()  # type: ignore[union-attr]
        line += text.count("\n", counted, pos)
        counted = pos
        if pos >= len(text):
            raise UserError(
                f"'{path.name}' is a JSON array that ends early (no closing ']' after line {line}); "
                "the file looks cut off, so upload the complete file."
            )
        if text[pos] == "]":
            break
        try:
            value, end = raw_decode(text, pos)
        except json.JSONDecodeError as error:
            if error.msg.startswith("nested deeper"):
                raise UserError(
                    f"'{path.name}' is a JSON array with a record {error.msg} at line {line}; flatten that record "
                    "or remove it."
                ) from None
            raise UserError(
                f"'{path.name}' is a JSON array with invalid JSON at line {error.lineno}; "
                "fix that line or save the data as JSON lines (one record per line)."
            ) from None
        if not isinstance(value, dict):
            raise UserError(
                f"'{path.name}' is a JSON array, but not of records (line {line} holds a {type(value).__name__}); "
                'make each element an object like {"text": "...", "label": "..."}.'
            )
        records.append((line, value))
        pos = end
    if not records:
        raise UserError(f'\'{path.name}\' is an empty JSON array; add records like {{"text": ..., "label": ...}}.')
    return record_table(path, "json", records, [])
