"""Columnar data as records: Parquet files, the Arrow files `Dataset.save_to_disk` writes, Arrow tables.

Compression and dictionary encoding let a few kilobytes hold millions of rows, so the rows and decoded
bytes are checked against the read limit (trainer.data.limits) before rows are built: first from the
file's own metadata, then batch by batch as the data is decoded, so a file that only shows its size once
decoded is stopped after one small batch past the limit, not after all of it.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.json_text import MAX_DEPTH
from trainer.data.limits import OverBudget, check_rows_memory

BATCH_ROWS = 1024  # rows decoded at a time: small enough that one batch of long texts stays small


def records_from_arrow(table: Any, name: str = "the dataset") -> list[dict[str, Any]]:
    """Rows of a pyarrow Table as Python dicts (nested lists and structs kept), refused above the read limit."""
    check_rows_memory(name, table.num_rows, table.num_rows * table.num_columns, table.nbytes)
    records = list(table.to_pylist())
    return [_plain(record) for record in records] if _has_unplain(table.schema) else records


def _records_from_batches(name: str, batches: Iterable[Any], rows: int = 0, known_bytes: int = 0) -> list[dict]:
    """The records of `batches`, checking after each one that the rows so far (and the `rows` the file says it
    has) stay within the read limit."""
    records: list[dict[str, Any]] = []
    decoded = 0
    for batch in batches:
        decoded += _decoded_bytes(batch)
        seen = len(records) + batch.num_rows
        total = max(rows, seen)
        check_rows_memory(name, total, total * batch.num_columns, max(decoded, known_bytes))
        converted = batch.to_pylist()
        records += [_plain(row) for row in converted] if _has_unplain(batch.schema) else converted
    return records


def _has_unplain(schema: Any) -> bool:
    """True when a column holds values JSON has no type for (times, decimals, bytes), at any depth."""
    import pyarrow as pa

    kinds = [field.type for field in schema]
    while kinds:
        kind = kinds.pop()
        if pa.types.is_temporal(kind) or pa.types.is_decimal(kind) or _is_binary(kind) or pa.types.is_map(kind):
            return True
        if pa.types.is_dictionary(kind):
            kinds.append(kind.value_type)
        elif pa.types.is_struct(kind):
            kinds.extend(kind.field(i).type for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            kinds.append(kind.value_type)
    return False


def _plain(value: Any, depth: int = 0) -> Any:
    """A value as JSON could hold it: times and dates in ISO form, decimals and durations as text, bytes as text
    when they are UTF-8 (else their size), map entries as [key, value] lists."""
    if isinstance(value, dict):
        return {key: _plain(item, depth + 1) for key, item in value.items()} if depth < MAX_DEPTH else str(value)
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in value] if depth < MAX_DEPTH else str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    return str(value)  # Decimal, timedelta, an interval: their own text is exact


def _decoded_bytes(batch: Any) -> int:
    """What a batch's values take once every row holds its own copy: a dictionary-encoded column holds each
    distinct text once, yet becomes one Python string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    for column in batch.columns:
        if not pa.types.is_dictionary(column.type):
            total += column.nbytes
        elif _is_bytes_like(column.type.value_type):
            lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
            total += int(pc.sum(lengths).as_py() or 0) + 8 * len(column)
        else:
            total += column.dictionary_decode().nbytes
    return total


def _is_binary(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind))


def _is_bytes_like(kind: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def load_parquet(path: Path, raw: bytes | None = None) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(raw) if raw is not None else path)
        meta = parquet.metadata
        rows, columns = int(meta.num_rows), len(parquet.schema_arrow)
        known = sum(max(0, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups))
        check_rows_memory(path.name, max(0, rows), max(0, rows) * columns, known)
        return _records_from_batches(path.name, parquet.iter_batches(batch_size=BATCH_ROWS), rows, known)
    except (UserError, MemoryError, OverBudget):
        raise
    except Exception as error:  # pyarrow raises several types for damaged files
        raise UserError(
            f"'{path.name}' is not a readable Parquet file ({_first_line(error, 120)}); "
            "export it again or save it as CSV or JSONL."
        ) from None


def load_arrow_stream(name: str, chunks: list[bytes]) -> list[dict[str, Any]]:
    """The Arrow stream files `Dataset.save_to_disk` writes (data-00000-of-00001.arrow ...)."""
    records: list[dict[str, Any]] = []
    for raw in chunks:
        try:
            records += _records_from_batches(name, _arrow_batches(raw), len(records))
        except (UserError, MemoryError, OverBudget):
            raise
        except Exception as error:
            raise UserError(
                f"'{name}' holds an Arrow file that cannot be read ({_first_line(error, 100)}); "
                "save the dataset again with save_to_disk."
            ) from None
    return records


def _arrow_batches(raw: bytes) -> Iterable[Any]:
    """The record batches of an Arrow stream, or of an Arrow file when `raw` is not a stream."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(pa.BufferReader(raw))
    except pa.ArrowInvalid:
        file_reader = pa.ipc.open_file(pa.BufferReader(raw))
        return (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
    return reader


def _first_line(error: Exception, width: int) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:width] if lines else type(error).__name__
