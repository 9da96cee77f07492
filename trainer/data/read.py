"""Read a user's data file or folder into a Table, whatever container it comes in.

Supports CSV, TSV (and ; or | separated), JSON lines, JSON (records or columns of lists), Parquet,
plain text, Hugging Face save_to_disk folders, folders of images or audio, and zip archives of any
of these. Every problem the user can fix raises UserError with one sentence naming the file, column
or line. Rows keep the file line they came from, so reports can point the user at the exact lines.
"""

from __future__ import annotations

from pathlib import Path

from trainer.core.errors import UserError
from trainer.data import containers
from trainer.data.columnar import load_arrow_stream, load_parquet
from trainer.data.delimited import load_delimited
from trainer.data.encodings import EXCEL_SUFFIXES, FORMATS_HINT, decode, read_bytes
from trainer.data.json_records import load_json_array, load_json_object_or_lines
from trainer.data.table import Table, rows_table
from trainer.data.turn_cache import cached_parse


def load_table(path: Path) -> Table:
    """Read a data file or folder into a Table; raise UserError when nothing usable is in it.

    CSV/TSV (sniffed), JSON (records or columns of lists), JSONL, Parquet, plain text (one example
    per line, fastText `__label__` prefixes understood), a Hugging Face save_to_disk folder, a folder
    with one subfolder of images or audio per class, and zip archives of any of these. Within a chat
    turn (trainer.data.turn_cache) the file is parsed once and every caller gets a copy of that parse.
    """
    return cached_parse(Path(path), _parse)


def _parse(path: Path) -> Table:
    if path.is_dir():
        return _load_folder(path)
    return _table_from_bytes(path, read_bytes(path))


def _table_from_bytes(path: Path, raw: bytes) -> Table:
    suffix = path.suffix.lower()
    if raw.startswith(b"PAR1") or (suffix == ".parquet" and raw):
        return rows_table(path, "parquet", load_parquet(path, raw))
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")) and suffix not in EXCEL_SUFFIXES:
        return _load_zip(path, raw)
    text, encoding = decode(path, raw)
    first = text.lstrip()[:1]
    if first == "[" and suffix not in (".csv", ".tsv", ".txt"):
        table = load_json_array(path, text)
    elif first == "{" and suffix not in (".csv", ".tsv", ".txt"):
        table = load_json_object_or_lines(path, text)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        raise UserError(
            f"'{path.name}' does not start with a JSON object; upload JSON lines (one {{...}} record per line)."
        )
    else:
        table = load_delimited(path, text)
    table.encoding = encoding
    return table


def _load_folder(path: Path) -> Table:
    if containers.is_hf_folder(path):
        splits = containers.load_hf_folder(path)
        train = splits.get("train") or next(iter(splits.values()))
        table = rows_table(path, "hf-dataset", train)
        for name, records in splits.items():
            if records is not train and records:
                table.splits[containers.split_of(name) or name] = rows_table(path, "hf-dataset", records)
        return table
    media = containers.load_media_folder(path)
    if media:
        return rows_table(path, "folder", media[1])
    raise UserError(
        f"'{path.name}' is a folder; upload {FORMATS_HINT}, a Hugging Face save_to_disk folder, or a folder "
        "with one subfolder of images or audio per class."
    )


def _load_zip(path: Path, raw: bytes) -> Table:
    contents = containers.zip_contents(path, raw)
    if contents["kind"] == "media":
        table = rows_table(path, "folder", contents["records"])
    elif contents["kind"] == "arrow":
        splits = contents["splits"]
        train = splits.get("train") or next(iter(splits.values()))
        table = rows_table(path, "hf-dataset", load_arrow_stream(path.name, train))
        for name, chunks in splits.items():
            if chunks is not train:
                table.splits[name] = rows_table(path, "hf-dataset", load_arrow_stream(path.name, chunks))
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
