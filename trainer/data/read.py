"""Read a user's labelled-text file, pick its text and label columns, and split it.

Supports CSV, TSV (and ; or | separated), JSON lines and a JSON array of records. Every problem
the user can fix raises UserError with one sentence naming the file, column or line. Rows keep
the file line they came from, so reports can point the user at the exact lines to fix.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainer.core.errors import UserError

TEXT_NAME_HINTS = ("text", "sentence", "message", "sms", "review", "content", "body", "comment", "query", "ticket")
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "liked", "intent", "y")
FORMATS_HINT = "a CSV, TSV, JSONL or JSON file of labelled texts"

# Real exports contain single fields far above csv's 128 KiB default (long reviews, pasted documents).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

# File signatures of formats people upload by mistake, so the message can say what the file is.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office document"),
)
_EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods")
_UNREADABLE = "\x00unreadable"
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x9f]")


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


@dataclass
class Examples:
    """The (text, label) rows a classifier can use, with their file lines, and the lines left out."""

    texts: list[str]
    labels: list[str]
    lines: list[int]
    empty_lines: list[int]


# ---------------------------------------------------------------------------------------------- reading


def read_text(path: Path) -> str:
    """Decode a user's file: UTF-8 (with or without BOM), UTF-16, else Windows-1252/Latin-1."""
    return _decode(path)[0]


def _read(path: Path) -> bytes:
    from trainer.data.containers import check_size

    try:
        check_size(path)
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"There is no file '{path.name}'; upload it again or check the name.") from None
    except IsADirectoryError:
        raise UserError(f"'{path.name}' is a folder, not a file; upload {FORMATS_HINT}.") from None


def _decode(path: Path) -> tuple[str, str]:
    return _decode_raw(path, _read(path))


def _decode_raw(path: Path, raw: bytes) -> tuple[str, str]:
    if not raw:
        raise UserError(f"'{path.name}' is empty (0 bytes); upload a file with a header row and labelled texts.")
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) and path.suffix.lower() in _EXCEL_SUFFIXES:
        raise UserError(
            f"'{path.name}' is a spreadsheet workbook; save it as CSV from your spreadsheet and upload that."
        )
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            raise UserError(f"'{path.name}' is {kind}, not a text file; upload {FORMATS_HINT}.")

    text, encoding = _decode_bytes(raw)
    if text is None or len(_CONTROL.findall(text[:65536])) > 0.02 * min(len(text), 65536):
        raise UserError(f"'{path.name}' looks like a binary file, not text; upload {FORMATS_HINT}.")
    if not text.strip():
        raise UserError(f"'{path.name}' contains only blank space; upload a file with a header row and labelled texts.")
    return text, encoding


def _decode_bytes(raw: bytes) -> tuple[str | None, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None, ""
    head = raw[:4096]
    if b"\x00" in head:
        # UTF-16 without a BOM shows as every other byte being zero; anything else with NULs is binary.
        even, odd = head[0::2], head[1::2]
        for codec, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if zeros.count(0) > 0.3 * len(zeros) and other.count(0) < 0.05 * max(1, len(other)):
                try:
                    return raw.decode(codec), codec
                except UnicodeDecodeError:
                    break
        return None, ""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Mostly UTF-8 with a few broken bytes: keep the UTF-8 rather than turn every accent into mojibake.
    lenient = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    broken = lenient.count("\ufffd")
    valid_non_ascii = sum(1 for ch in lenient if ord(ch) > 127) - broken
    if valid_non_ascii > 2 * broken:
        return lenient, "utf-8 (with undecodable bytes replaced)"
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def load_table(path: Path) -> Table:
    """Read a data file or folder into a Table; raise UserError when nothing usable is in it.

    CSV/TSV (sniffed), JSON (records or columns of lists), JSONL, Parquet, plain text (one example
    per line, fastText `__label__` prefixes understood), a Hugging Face save_to_disk folder, a folder
    with one subfolder of images or audio per class, and zip archives of any of these.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    return _table_from_bytes(path, _read(path))


def _table_from_bytes(path: Path, raw: bytes) -> Table:
    from trainer.data import containers as formats

    suffix = path.suffix.lower()
    if raw.startswith(b"PAR1") or (suffix == ".parquet" and raw):
        return _rows_table(path, "parquet", formats.load_parquet(path, raw))
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")) and suffix not in _EXCEL_SUFFIXES:
        return _load_zip(path, raw)
    text, encoding = _decode_raw(path, raw)
    first = text.lstrip()[:1]
    if first == "[" and suffix not in (".csv", ".tsv", ".txt"):
        table = _load_json_array(path, text)
    elif first == "{" and suffix not in (".csv", ".tsv", ".txt"):
        table = _load_json_object_or_lines(path, text)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        raise UserError(
            f"'{path.name}' does not start with a JSON object; upload JSON lines (one {{...}} record per line)."
        )
    else:
        table = _load_delimited(path, text)
    table.encoding = encoding
    return table


def _rows_table(path: Path, fmt: str, records: list[dict[str, Any]]) -> Table:
    if not records:
        raise UserError(f"'{path.name}' holds no rows; upload a file with examples in it.")
    return _record_table(path, fmt, list(enumerate(records, start=1)), [])


def _load_folder(path: Path) -> Table:
    from trainer.data import containers as formats

    if formats.is_hf_folder(path):
        splits = formats.load_hf_folder(path)
        train = splits.get("train") or next(iter(splits.values()))
        table = _rows_table(path, "hf-dataset", train)
        for name, records in splits.items():
            if records is not train and records:
                table.splits[formats.split_of(name) or name] = _rows_table(path, "hf-dataset", records)
        return table
    media = formats.load_media_folder(path)
    if media:
        return _rows_table(path, "folder", media[1])
    raise UserError(
        f"'{path.name}' is a folder; upload {FORMATS_HINT}, a Hugging Face save_to_disk folder, or a folder "
        "with one subfolder of images or audio per class."
    )


def _load_zip(path: Path, raw: bytes) -> Table:
    from trainer.data import containers as formats

    contents = formats.zip_contents(path, raw)
    if contents["kind"] == "media":
        table = _rows_table(path, "folder", contents["records"])
    elif contents["kind"] == "arrow":
        splits = contents["splits"]
        train = splits.get("train") or next(iter(splits.values()))
        table = _rows_table(path, "hf-dataset", formats.load_arrow_stream(path.name, train))
        for name, chunks in splits.items():
            if chunks is not train:
                table.splits[name] = _rows_table(path, "hf-dataset", formats.load_arrow_stream(path.name, chunks))
    elif contents["kind"] == "file":
        table = _inner_table(path, contents["name"], contents["raw"])
    else:
        files = contents["files"]
        table = _inner_table(path, *files["train"])
        for split, (name, data) in files.items():
            if split != "train":
                table.splits[split] = _inner_table(path, name, data)
    table.notes.append(f"Read from the zip archive '{path.name}'" + (f" ({table.source})." if table.source else "."))
    return table


def _inner_table(archive: Path, name: str, raw: bytes) -> Table:
    inner = Path(name).name
    table = _table_from_bytes(archive.with_name(f"{archive.name}:{inner}"), raw)
    table.source = name
    return table


def _scalar(value: object) -> str | None:
    """JSON values as strings: labels like 1 or true must compare equal to the same label in a CSV."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _record_table(path: Path, fmt: str, records: list[tuple[int, dict]], bad: list[int]) -> Table:
    columns: dict[str, None] = {}
    rows, lines, raw = [], [], []
    for line, record in records:
        clean = {str(k).strip(): v for k, v in record.items()}
        row = {k: _scalar(v) for k, v in clean.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
        raw.append(clean)
        lines.append(line)
    return Table(path, fmt, list(columns), rows, bad, lines=lines, records=raw)


def _load_json_object_or_lines(path: Path, text: str) -> Table:
    # A pretty-printed {"data": [...]} is one JSON document, not JSON lines; look for its list of records.
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return _load_jsonl(path, text)
    from trainer.data.containers import json_columns

    columns = json_columns(document)
    if columns is not None:
        return _record_table(path, "json", list(enumerate(columns, start=1)), [])
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            key = next(k for k, v in document.items() if v is lists[0])
            found = [i for q in (json.dumps(key, ensure_ascii=False), json.dumps(key)) if (i := text.find(q)) >= 0]
            return _load_json_array(path, text, start=text.index("[", found[0] if found else 0))
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
            record = json.loads(line)
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
    table = _record_table(path, "jsonl", records, bad)
    table.non_object_lines = not_objects
    return table


def _load_json_array(path: Path, text: str, start: int | None = None) -> Table:
    """Parse a JSON array one element at a time, so each record knows its line."""
    decoder = json.JSONDecoder()
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
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
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
    return _record_table(path, "json", records, [])


# ------------------------------------------------------------------------------------ delimited text


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


def _load_delimited(path: Path, text: str) -> Table:
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
        rows.append(dict(zip(header, fields, strict=True)))
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


FASTTEXT_LABEL = re.compile(r"^((?:__label__\S+\s+)+)(.*)$")


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
            rows.append({"text": match.group(2).strip(), "label": ",".join(labels)})
            lines.append(number)
        return Table(path, "fasttext", ["text", "label"], rows, bad, lines=lines, has_header=False)
    header = numbered[0][1]
    if path.suffix.lower() in (".txt", "") and not any(d in header for d in (",", "\t", ";", "|")):
        rows = [{"text": line} for _, line in numbered]
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


# ------------------------------------------------------------------------------------ choosing columns


def _values(table: Table, column: str) -> list[str]:
    return [v.strip() for row in table.rows if (v := row.get(column)) is not None and v.strip()]


def pick_columns(table: Table, text_column: str | None = None, label_column: str | None = None) -> dict[str, str]:
    """Choose the text and label columns, with a one-line reason for each choice."""
    name = table.path.name
    for given in (text_column, label_column):
        if given and given not in table.columns:
            raise UserError(f"There is no column '{given}' in '{name}'; its columns are: {', '.join(table.columns)}.")
    if text_column and text_column == label_column:
        raise UserError(f"'{text_column}' cannot be both the text and the label column of '{name}'; name two columns.")
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
                f"'{name}' has no column of free text (columns: {', '.join(table.columns)}); "
                "add one or name it with --text-column."
            )

        def text_score(c: str) -> float:
            distinct, mean_length, count = stats[c]
            # Texts are long and mostly distinct; long category names repeat.
            return mean_length * (1.5 if _hinted(c, TEXT_NAME_HINTS) else 1) * (0.5 + 0.5 * distinct / count)

        text_column = max(candidates, key=text_score)
        reasons["text_reason"] = (
            f"'{text_column}' holds the longest free text (mean {stats[text_column][1]:.0f} characters, "
            f"{stats[text_column][0]} distinct values)."
        )
    else:
        reasons["text_reason"] = f"'{text_column}' was named as the text column."

    if not label_column:
        limit = max(2, min(100, len(table.rows) // 5))
        candidates = [c for c in stats if c != text_column and 2 <= stats[c][0] <= limit]
        single = [c for c in stats if c != text_column and stats[c][0] == 1]
        hinted_single = [c for c in single if _hinted(c, LABEL_NAME_HINTS)]
        # A column named like a label but holding one class is the user's label: say so rather than
        # silently training on some other low-cardinality column.
        if hinted_single and not any(_hinted(c, LABEL_NAME_HINTS) for c in candidates):
            candidates = []
            single = hinted_single
        if not candidates:
            if single:
                only = _values(table, single[0])[0]
                raise UserError(
                    f"The label column '{single[0]}' in '{name}' has a single class ('{only}'); a classifier needs "
                    "at least two classes, so add examples of the other classes."
                )
            raise UserError(
                f"'{name}' has no column that looks like a class label (few distinct values); "
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


# ------------------------------------------------------------------------------------ examples, split


def table_examples(table: Table, text_column: str, label_column: str) -> Examples:
    """The rows with both text and label filled in; the one definition training and inspection share."""
    texts, labels, lines, empty = [], [], [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        if text and label:
            texts.append(text)
            labels.append(label)
            lines.append(line)
        else:
            empty.append(line)
    return Examples(texts, labels, lines, empty)


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


def load_examples(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Return the (text, label) pairs with both fields present; fail clearly when unusable."""
    table = load_table(path)
    pick_columns(table, text_column, label_column)  # validates the names
    examples = table_examples(table, text_column, label_column)
    check_classes(table, examples, text_column, label_column)
    return examples.texts, examples.labels


def split_sizes(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) sizes of one class under stratified_split."""
    n_test = round(count * test_fraction)
    n_val = round(count * val_fraction)
    # Every class keeps at least one training example.
    if n_test + n_val >= count:
        n_test, n_val = min(n_test, max(0, count - 1)), 0
    return count - n_test - n_val, n_val, n_test


def stratified_split(labels: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Split row indices into train/validation/test, keeping each class's share in every split."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise UserError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be at least 0 and sum to "
            "less than 1; lower them, e.g. to 0.1 each."
        )
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    splits: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        _, n_val, n_test = split_sizes(len(indices), val_fraction, test_fraction)
        splits["test"].extend(indices[:n_test])
        splits["validation"].extend(indices[n_test : n_test + n_val])
        splits["train"].extend(indices[n_test + n_val :])
    for part in splits.values():
        rng.shuffle(part)
    return splits
