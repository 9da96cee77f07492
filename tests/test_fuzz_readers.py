"""Every reader, fed random bytes and damaged copies of real files of each format, gives a result or a UserError
(one sentence), never another exception, and quickly. Below the fuzzing: the cases it found, kept as examples."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.core.errors import UserError
from trainer.data.read import load_table
from trainer.inspection.report import inspect_file
from trainer.inspection.stream import check_chat_jsonl

BOUND_S = 5.0  # per call; each input is at most a few kilobytes
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))

ROWS = [("the food was great", "pos"), ("awful service, never again", "neg"), ('he said "no", twice', "neg")] * 3
CHAT = [
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": t},
            {"role": "assistant", "content": a},
        ]
    }
    for t, a in ROWS
]


def _seeds() -> dict[str, tuple[str, bytes]]:
    """One small real file per format, as (suffix, bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = ("text,label\n" + "".join(f'"{t.replace(chr(34), chr(34) * 2)}",{label}\n' for t, label in ROWS)).encode()
    seeds = {
        "csv": (".csv", csv),
        "tsv": (".tsv", ("label\ttext\n" + "".join(f"{label}\t{t}\n" for t, label in ROWS)).encode()),
        "jsonl": (".jsonl", "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in ROWS).encode()),
        "json": (".json", json.dumps([{"text": t, "label": label} for t, label in ROWS], indent=1).encode()),
        "txt": (".txt", "".join(f"__label__{label} {t}\n" for t, label in ROWS).encode()),
        "chat": (".jsonl", "".join(json.dumps(c) + "\n" for c in CHAT).encode()),
    }
    parquet = io.BytesIO()
    table = pa.table({"text": [t for t, _ in ROWS], "label": [label for _, label in ROWS], "n": list(range(len(ROWS)))})
    pq.write_table(table, parquet)
    seeds["parquet"] = (".parquet", parquet.getvalue())
    for name, method in (("zip", zipfile.ZIP_DEFLATED), ("zip-stored", zipfile.ZIP_STORED)):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", method) as handle:
            handle.writestr("train.csv", csv)
            handle.writestr("test.jsonl", seeds["jsonl"][1])
        seeds[name] = (".zip", archive.getvalue())
    return seeds


SEEDS = _seeds()
SUFFIXES = sorted({suffix for suffix, _ in SEEDS.values()} | {".ndjson", ".tab", ".bin", ""})

# A damage: flip a byte, insert bytes, delete or repeat a run, cut the file, overwrite bytes; at a relative place.
DAMAGE = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "repeat", "cut", "overwrite"]),
    st.floats(0, 1, exclude_max=True),
    st.binary(min_size=1, max_size=8),
    st.integers(1, 64),
)


def damaged(data: bytes, damages: list[tuple[str, float, bytes, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, chunk, length in damages:
        if not out:
            out = bytearray(chunk)
            continue
        at = int(where * len(out))
        if kind == "flip":
            out[at] ^= chunk[0] or 1
        elif kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at : at + length]
        elif kind == "repeat":
            out[at:at] = out[at : at + length] * (1 + chunk[0] % 4)
        elif kind == "cut":
            del out[at:]
        else:
            out[at : at + len(chunk)] = chunk
    return bytes(out)


def result_or_user_error(read: Callable[[Path], Any], path: Path) -> Any:
    """What `read` returns, or None for a UserError; any other exception fails the test, and so does slowness."""
    start = time.monotonic()
    try:
        return read(path)
    except UserError as error:
        assert str(error).strip(), "a UserError says what is wrong"
        return None
    finally:
        assert time.monotonic() - start < BOUND_S, f"{read.__name__} took too long on {path.read_bytes()[:200]!r}"


def _write(folder: Path, data: bytes, suffix: str) -> Path:
    path = folder / f"upload-{time.monotonic_ns()}{suffix}"
    path.write_bytes(data)
    return path


# ---- fuzzing ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_read_or_refused_in_one_sentence(tmp_path: Path, data: bytes, suffix: str) -> None:
    table = result_or_user_error(load_table, _write(tmp_path, data, suffix))
    assert table is None or table.rows


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), damages=st.lists(DAMAGE, min_size=1, max_size=6))
def test_damaged_files_of_every_format_are_read_or_refused_in_one_sentence(
    tmp_path: Path, seed: str, damages: list[tuple[str, float, bytes, int]]
) -> None:
    suffix, data = SEEDS[seed]
    path = _write(tmp_path, damaged(data, damages), suffix)
    table = result_or_user_error(load_table, path)
    assert table is None or table.rows
    report = result_or_user_error(inspect_file, path)
    assert report is None or report["file"] == path.name


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.lists(DAMAGE, min_size=1, max_size=6).map(lambda damages: damaged(SEEDS["chat"][1], damages)),
    )
)
def test_the_streaming_chat_checker_reports_or_refuses_any_bytes(tmp_path: Path, data: bytes) -> None:
    report = result_or_user_error(check_chat_jsonl, _write(tmp_path, data, ".jsonl"))
    if report is not None:
        counted = report["valid_rows"] + sum(report["errors"].values()) + report["blank_lines"]
        assert report["valid_rows"] <= report["rows"] <= counted


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool", "gpt", ""]) | JSON, "content": JSON}
    ),
    st.dictionaries(
        st.sampled_from(["role", "content", "from", "value", "tool_calls", "weight", "name"]), JSON, max_size=4
    ),
    JSON,
)
RECORD = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4) | JSON}, optional={"tools": JSON}),
    st.fixed_dictionaries({"conversations": st.lists(MESSAGE, max_size=4)}, optional={"system": JSON}),
    st.fixed_dictionaries({"prompt": JSON | st.lists(MESSAGE, max_size=2), "chosen": JSON, "rejected": JSON}),
    st.fixed_dictionaries({"prompt": JSON, "completion": JSON}, optional={"label": JSON}),
    st.fixed_dictionaries({"instruction": JSON, "output": JSON}, optional={"input": JSON, "history": JSON}),
    st.fixed_dictionaries({"text": JSON, "label": JSON}),
    JSON,
)


@pytest.mark.slow
@FUZZ
@given(
    records=st.lists(RECORD, min_size=1, max_size=8), task=st.sampled_from([None, "sft", "dpo", "kto", "regression"])
)
def test_records_of_every_shape_are_inspected_or_refused_in_one_sentence(
    tmp_path: Path, records: list[Any], task: str | None
) -> None:
    lines = _write(tmp_path, "".join(json.dumps(r) + "\n" for r in records).encode(), ".jsonl")
    result_or_user_error(lambda path: inspect_file(path, task=task), lines)
    result_or_user_error(check_chat_jsonl, lines)
    result_or_user_error(inspect_file, _write(tmp_path, json.dumps(records).encode(), ".json"))


# ---- what the fuzzing found --------------------------------------------------------------------------------


def _zip_with_one_entry(data: bytes) -> bytearray:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as handle:
        handle.writestr("data.jsonl", data)
    return bytearray(archive.getvalue())


@pytest.mark.parametrize("damage", ["checksum", "local header", "version", "offset"])
def test_a_zip_entry_that_cannot_be_read_is_one_sentence(tmp_path: Path, damage: str) -> None:
    raw = _zip_with_one_entry(SEEDS["jsonl"][1])
    central = raw.rindex(b"PK\x01\x02")
    if damage == "checksum":
        raw[40] ^= 0xFF  # a byte of the entry's data: its CRC-32 no longer matches (BadZipFile)
    elif damage == "local header":
        raw[30] ^= 0x20  # the name in the entry's own header differs from the directory's (BadZipFile)
    elif damage == "version":
        raw[central + 6] = 89  # "needs zip version 8.9" (NotImplementedError)
    else:
        raw[central + 42 : central + 46] = (2**32 - 9).to_bytes(4, "little")  # before the file (ValueError)
    path = _write(tmp_path, bytes(raw), ".zip")
    with pytest.raises(UserError, match=r"^'upload-\d+\.zip' (has an entry that cannot be read|is a damaged ZIP)"):
        load_table(path)


def test_a_message_that_is_a_number_is_an_error_line_for_the_streaming_checker(tmp_path: Path) -> None:
    good = json.dumps(CHAT[0])
    path = _write(tmp_path, f'{good}\n{{"messages": [1, true]}}\n{good}\n'.encode(), ".jsonl")
    report = check_chat_jsonl(path)
    assert report["rows"] == 3 and report["valid_rows"] == 2 and report["errors"]["data_type"] == 1


def test_a_column_with_an_empty_name_is_named_by_its_place(tmp_path: Path) -> None:
    path = _write(tmp_path, b'{"": "some words"}\n{"": "more words"}\n', ".jsonl")
    assert load_table(path).columns == ["column_1"]
    assert inspect_file(path)["text_column"] == "column_1"


def test_infinite_and_huge_numbers_are_not_regression_targets(tmp_path: Path) -> None:
    from trainer.data.values import as_number

    assert [as_number(v) for v in ("inf", "-Infinity", float("inf"), 10**400, "1e999", "2.5")] == [None] * 5 + [2.5]
    texts = [
        f"the meal we had on day {i} was {['fine', 'poor', 'great'][i % 3]} and the staff were kind" for i in range(12)
    ]
    rows = [{"text": text, "score": [1e308, -1e308, 5e307, 2.5][i % 4]} for i, text in enumerate(texts)]
    path = _write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows).encode(), ".jsonl")
    report = inspect_file(path, task="regression")
    assert report["target"]["max"] == 1e308 and report["target"]["std"] > 0


def test_an_alpaca_history_that_is_not_a_list_is_ignored(tmp_path: Path) -> None:
    rows = [{"instruction": f"say {i}", "output": f"{i}", "history": 0.5 if i == 0 else []} for i in range(6)]
    path = _write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows).encode(), ".jsonl")
    report = inspect_file(path)
    assert report["task"] == "alpaca" and report["usable_rows"] == 6


def test_parquet_times_decimals_and_bytes_are_read_as_text(tmp_path: Path) -> None:
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "typed.parquet"
    table = {
        "text": ["a fine text", "another text"],
        "when": [datetime.datetime(2024, 5, 1, 12, 30), None],
        "price": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
        "raw": [b"\xff\x00", b"plain"],
        "took": pa.array([datetime.timedelta(seconds=3), None]),
        "day": [datetime.date(2024, 5, 1), None],
    }
    pq.write_table(pa.table(table), path)
    read = load_table(path)
    assert read.rows[0] == {
        "text": "a fine text",
        "when": "2024-05-01T12:30:00",
        "price": "1.50",
        "raw": "<2 bytes>",
        "took": "0:00:03",
        "day": "2024-05-01",
    }
    assert read.rows[1]["raw"] == "plain" and read.rows[1]["when"] is None
