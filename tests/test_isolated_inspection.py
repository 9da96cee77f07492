"""Inspection of a large or compressed upload runs in a child process under a memory limit: the report is the
one the chat process would have made, and a file that needs more memory than the limit is one sentence."""

from __future__ import annotations

import resource
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tools.context import ToolContext
from tools.data_tools import inspect_data
from trainer.core.errors import UserError
from trainer.inspection import isolated
from trainer.inspection.report import inspect_file


def _without_timing(report: dict[str, Any]) -> dict[str, Any]:
    # The streaming checker says how long it took; nothing else in a report may differ.
    return {**report, "notes": [note for note in report["notes"] if " s; " not in note]}


@pytest.mark.slow
def test_the_child_gives_the_same_report_as_the_chat_process(
    tmp_path: Path, reviews_tsv: Path, chat_jsonl: Path, pairs_jsonl: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "reviews.parquet"
    rows = [line.split("\t") for line in reviews_tsv.read_text().splitlines()[1:]]
    pq.write_table(pa.table({"text": [t for _, t in rows], "label": [label for label, _ in rows]}), parquet)
    archive = tmp_path / "chats.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(chat_jsonl, "chat.jsonl")
    scores = tmp_path / "scores.csv"
    scores.write_text("text,score\n" + "".join(f"review {i} of the day,{i % 7 / 2}\n" for i in range(60)))
    for path, options in (
        (reviews_tsv, {}),
        (scores, {}),
        (chat_jsonl, {}),
        (pairs_jsonl, {}),
        (parquet, {"label_column": "label"}),
        (archive, {}),
    ):
        here = inspect_file(path, **options)
        there = isolated.inspect_in_child(path, **options)
        assert _without_timing(there) == _without_timing(here), path.name


def test_a_user_error_in_the_child_comes_back_as_the_same_sentence(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")
    with pytest.raises(UserError) as here:
        inspect_file(path)
    with pytest.raises(UserError) as there:
        isolated.inspect_upload(path)
    assert str(there.value) == str(here.value) and "is not a readable Parquet file" in str(here.value)


@pytest.mark.slow
def test_a_file_that_blows_up_in_memory_is_one_sentence_and_the_chat_process_never_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four megabytes of one-letter rows are a million rows: about 600 MB of Python objects once read.
    path = tmp_path / "tiny-rows.csv"
    path.write_text("text,label\n" + "a,b\n" * 1_000_000)
    monkeypatch.setenv("TUNECHAT_READ_MEMORY_MB", "100")
    monkeypatch.setattr(isolated, "ADDRESS_HEADROOM", 100_000_000)  # the interpreter alone, for a quick failure
    ctx = ToolContext.from_env(session_id="big")
    name = ctx.workspace.import_file(path, session_id="big").name
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError) as refused:
        inspect_data(ctx, name)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1e3
    assert str(refused.value) == (
        "'tiny-rows.csv' needs more memory than the 100 MB limit for reading a file; upload a smaller file or "
        "raise TUNECHAT_READ_MEMORY_MB."
    )
    assert grown_mb < 50, grown_mb


def test_the_child_gets_no_api_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-inspect")
    monkeypatch.setenv("HF_TOKEN", "hf-canary-inspect")
    seen: dict[str, Any] = {}

    def fake_run(command: list[str], **kwargs: Any) -> Any:
        seen.update(kwargs["env"])
        raise isolated.subprocess.TimeoutExpired(command, 1)

    monkeypatch.setattr(isolated.subprocess, "run", fake_run)
    with pytest.raises(UserError, match="took more than"):
        isolated.inspect_in_child(tmp_path / "x.csv")
    assert "OPENAI_API_KEY" not in seen and "HF_TOKEN" not in seen
    assert seen["TOKENIZERS_PARALLELISM"] == "false" and int(seen["TUNECHAT_INSPECT_ADDRESS_LIMIT"]) > 1e9


def test_small_files_stay_in_the_chat_process_unless_they_state_they_are_larger(
    reviews_tsv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    children: list[Path] = []
    monkeypatch.setattr(isolated, "inspect_in_child", lambda path, **options: children.append(path) or {})
    assert isolated.inspect_upload(reviews_tsv)["rows"] == 120 and not children
    # A few kilobytes that decode to 300,000 rows, and a small archive that unpacks to 3 MB: read by the child.
    packed = tmp_path / "packed.parquet"
    pq.write_table(pa.table({"text": ["the same review again"] * 300_000, "label": ["pos"] * 300_000}), packed)
    archive = tmp_path / "packed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("reviews.csv", "text,label\n" + "the same review again,pos\n" * 120_000)
    assert packed.stat().st_size < isolated.INLINE_BYTES and archive.stat().st_size < isolated.INLINE_BYTES
    assert isolated.inspect_upload(packed) == {} and isolated.inspect_upload(archive) == {}
    assert children == [packed, archive] and not isolated._inline(tmp_path)
