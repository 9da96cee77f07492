"""A small file that would take a lot of memory is refused before it is decoded, and a huge text field is
tokenized only as far as the length checks need: both measured in a child process (peak RSS and time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from child_memory import run_measured

READ = """
from pathlib import Path
from trainer.core.errors import UserError
from trainer.data.read import load_table
try:
    RESULT = {"rows": len(load_table(Path(PATH)).rows)}
except UserError as error:
    RESULT = {"error": str(error)}
"""


def _read_in_child(path: Path, env: dict[str, str] | None = None) -> tuple[dict, float, float]:
    measured = run_measured(f"PATH = {str(path)!r}\n" + READ, env=env)
    return measured.result, measured.peak_mb, measured.seconds


def _packed_parquet(tmp_path: Path) -> Path:
    """A few kilobytes on disk, a million rows once read: one short review repeated (dictionary encoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "packed.parquet"
    rows = 1_000_000
    pq.write_table(pa.table({"text": ["a fine short review"] * rows, "label": ["pos"] * rows}), path)
    assert path.stat().st_size < 50_000
    return path


@pytest.mark.slow
def test_a_small_parquet_file_that_decodes_to_a_million_rows_is_refused_before_it_is_read(tmp_path: Path) -> None:
    packed_parquet = _packed_parquet(tmp_path)
    # Read as it was, this file took about 1 GB and 5 s; now its own metadata is enough to refuse it.
    result, peak_mb, seconds = _read_in_child(packed_parquet, {"TUNECHAT_READ_MEMORY_MB": "300"})
    assert "error" in result, result
    message = result["error"]
    assert message.startswith("'packed.parquet' holds 1,000,000 rows") and "over the 300 MB limit" in message
    assert "TUNECHAT_READ_MEMORY_MB" in message and message.count(". ") == 0
    assert peak_mb < 250, peak_mb
    assert seconds < 10


@pytest.mark.slow
def test_repeated_long_values_are_refused_while_reading_without_decoding_them_all(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Few rows, so the metadata alone does not show it: 40,000 copies of a 20 kB text are 800 MB decoded
    # (written from a dictionary array, so this test never holds them either).
    path = tmp_path / "long-values.parquet"
    rows = 40_000
    text = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["word " * 4_000]))
    pq.write_table(pa.table({"text": text, "label": ["a", "b"] * (rows // 2)}), path, write_statistics=False)
    assert path.stat().st_size < 200_000
    result, peak_mb, _ = _read_in_child(path, {"TUNECHAT_READ_MEMORY_MB": "200"})
    assert result.get("error", "").startswith("'long-values.parquet' holds 40,000 rows"), result
    # The rows read before the limit was reached, the interpreter and one batch: not the 800 MB.
    assert peak_mb < 450, peak_mb


def test_a_parquet_file_within_the_limit_reads_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trainer.data.read import load_table

    path = tmp_path / "fine.parquet"
    texts = [f"review number {i} was {'good' if i % 2 else 'bad'}" for i in range(5000)]
    pq.write_table(pa.table({"text": texts, "label": [i % 2 for i in range(5000)]}), path, row_group_size=700)
    monkeypatch.setenv("TUNECHAT_READ_MEMORY_MB", "100")
    table = load_table(path)
    assert [row["text"] for row in table.rows] == texts
    assert table.records is not None and table.records[3] == {"text": texts[3], "label": 1}
    assert table.lines[:3] == [1, 2, 3] and table.format == "parquet"


def test_the_default_read_limit_is_a_share_of_this_machines_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from trainer.data.limits import memory_limit_bytes

    monkeypatch.delenv("TUNECHAT_READ_MEMORY_MB", raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 1e9 <= memory_limit_bytes() <= max(1e9, total / 2)
    monkeypatch.setenv("TUNECHAT_READ_MEMORY_MB", "1500")
    assert memory_limit_bytes() == 1_500_000_000


INSPECT = """
from pathlib import Path
from trainer.inspection.report import inspect_file
report = inspect_file(Path(PATH))
RESULT = {"tokens": report["length_tokens"], "notes": report["notes"], "problems": report["problems"]}
"""


@pytest.mark.slow
def test_a_20_mb_text_field_is_tokenized_only_as_far_as_the_length_check_needs(tmp_path: Path) -> None:
    # Tokenized whole, this one field took about 30 s and 2.7 GB in the tokenizer.
    path = tmp_path / "one-huge-text.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("text,label\n" + "hello world " * 1_700_000 + ",pos\n")
        handle.write("".join(f"short text number {i},{'neg' if i % 2 else 'pos'}\n" for i in range(50)))
    assert path.stat().st_size > 20_000_000
    measured = run_measured(f"PATH = {str(path)!r}\n" + INSPECT)
    tokens = measured.result["tokens"]
    assert tokens["cut_texts"] == 1 and tokens["truncated_at_128"] == 1
    # The cut text still counts more tokens than max_length, so the length problem is reported as before.
    assert tokens["max"] > 128 and tokens["p50"] == 6
    assert any(p["code"] == "too_long" for p in measured.result["problems"])
    assert any("at least" in note and "1 text longer than" in note for note in measured.result["notes"])
    assert measured.seconds < 15, measured.seconds
    assert measured.peak_mb < 600, measured.peak_mb


def test_a_long_run_before_an_at_sign_is_scanned_for_emails_in_linear_time() -> None:
    import time

    from trainer.inspection.personal_data import find_pii

    start = time.monotonic()
    assert find_pii("a" * 200_000 + "@") == []
    assert find_pii("x" * 100_000 + " write to ann.lee@example.org today") == ["email"]
    assert time.monotonic() - start < 1


def test_a_cut_count_is_shown_as_a_lower_bound() -> None:
    from ui.render.data import render_inspection

    report = {
        "task": "text-classification",
        "length_chars": {"p50": 30, "p95": 40, "max": 9_000_000},
        "length_tokens": {"p50": 6, "p95": 9, "max": 3_200, "cut_texts": 1},
    }
    assert "max at least 3200." in render_inspection(report)
    del report["length_tokens"]["cut_texts"]
    assert "max 3200." in render_inspection(report)
