"""What a data file becomes once read: a Table of rows, each with the file line it came from.

Rows and records are read-only dicts: within a chat turn one parse of a file is handed to every
caller (trainer.data.turn_cache), so no caller may change what the next one sees. `dict(row)` is a
copy to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from trainer.core.errors import UserError


class ReadOnlyDict(dict[str, Any]):
    """A row or record as read from a file; `dict(row)` gives a copy that can change."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("A row read from a file cannot be changed; change a copy made with dict(row).")

    def __setitem__(self, key: str, value: Any) -> None:
        self._refuse()

    def __delitem__(self, key: str) -> None:
        self._refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        # Copies (copy.copy, deepcopy, pickle) are plain dicts: whoever copies means to change it.
        return dict, (dict(self),)


@dataclass
class Table:
    """A file read into memory: column names and rows of strings (None for a missing field).

    `lines[i]` is the file line where `rows[i]` starts (the header is line 1 of a CSV/TSV);
    `bad_lines` are lines that could not be read and were skipped; `repaired_lines` had extra
    delimiters that were joined back into the text column.
    """

    path: Path
    format: str
    columns: list[str]
    rows: list[dict[str, str | None]]
    bad_lines: list[int]
    lines: list[int] = field(default_factory=list)
    repaired_lines: list[int] = field(default_factory=list)
    encoding: str = "utf-8"
    has_header: bool = True
    # The records as parsed (lists, numbers, booleans kept) for JSON-like sources; chat and preference
    # shapes need the structure that `rows` flattens into strings. None for delimited text.
    records: list[dict[str, Any]] | None = None
    # Where inside the upload the rows came from (an archive entry), and any splits the user brought.
    source: str = ""
    splits: dict[str, Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Lines among bad_lines that are valid JSON but not an object (OpenAI's "data_type" error).
    non_object_lines: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Tables built by hand (older callers, tests) get 1-based positions as their line numbers.
        if not self.lines:
            self.lines = list(range(1, len(self.rows) + 1))

    def copy(self) -> Table:
        """The same rows in new lists: a caller may sort, append or reassign without touching this Table."""
        return Table(
            self.path,
            self.format,
            list(self.columns),
            list(self.rows),
            list(self.bad_lines),
            lines=list(self.lines),
            repaired_lines=list(self.repaired_lines),
            encoding=self.encoding,
            has_header=self.has_header,
            records=None if self.records is None else list(self.records),
            source=self.source,
            splits={name: split.copy() for name, split in self.splits.items()},
            notes=list(self.notes),
            non_object_lines=list(self.non_object_lines),
        )


def scalar(value: object) -> str | None:
    """JSON values as strings: labels like 1 or true must compare equal to the same label in a CSV."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def record_table(path: Path, fmt: str, records: list[tuple[int, dict]], bad: list[int]) -> Table:
    """A Table of parsed records (JSON, Parquet, Arrow) given with the line each starts on."""
    columns: dict[str, None] = {}
    rows: list[dict[str, str | None]] = []
    raw: list[dict[str, Any]] = []
    lines = []
    for line, record in records:
        # A key that is empty once stripped is named by its position, as a CSV's empty header cell is.
        clean = ReadOnlyDict((str(k).strip() or f"column_{i + 1}", v) for i, (k, v) in enumerate(record.items()))
        row = ReadOnlyDict((k, scalar(v)) for k, v in clean.items())
        columns.update(dict.fromkeys(row))
        rows.append(row)
        raw.append(clean)
        lines.append(line)
    return Table(path, fmt, list(columns), rows, bad, lines=lines, records=raw)


def rows_table(path: Path, fmt: str, records: list[dict[str, Any]]) -> Table:
    """A Table of records without line numbers of their own (Parquet, Arrow, folders): 1, 2, 3 ..."""
    if not records:
        raise UserError(f"'{path.name}' holds no rows; upload a file with examples in it.")
    return record_table(path, fmt, list(enumerate(records, start=1)), [])
