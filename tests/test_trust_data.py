"""What a data file can do to the chat stays small: a label table is capped, deep nesting is a bad line, and a
failed upload copy leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.context import ToolContext
from tools.data_tools import inspect_data
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.data.read import load_table
from trainer.inspection.report import inspect_file
from ui.render.data import render_inspection


def _many_labels(path: Path, labels: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        handle.write("".join(f"a text about thing {i} here,L{i % labels:05d}\n" for i in range(labels * 2)))
        handle.write("".join(f"more texts about thing {i} here,L00007\n" for i in range(5)))
    return path


def test_a_report_for_the_chat_lists_the_most_frequent_labels_and_says_how_many_more(tmp_path: Path) -> None:
    ctx = ToolContext.from_env(session_id="labels")
    name = ctx.workspace.import_file(_many_labels(tmp_path / "labels.csv", 2_000), session_id="labels").name
    report = inspect_data(ctx, name, label_column="label")
    assert report["num_classes"] == 2_000 and len(report["labels"]) == 50 and report["labels_not_listed"] == 1_950
    assert report["labels"][0] == {"label": "L00007", "count": 7, "share": round(7 / 4005, 4)}
    assert len(json.dumps(report)) < 10_000
    message = render_inspection(report)
    assert "…and 1,980 more labels (2,000 in all)." in message and message.count("| L0") == 20
    assert len(message) < 3_000


def test_a_rendered_label_table_is_capped_whatever_report_it_gets() -> None:
    labels = [{"label": f"L{i}", "count": 2, "share": 0.00001} for i in range(100_000)]
    for task in ("text-classification", "image-classification"):
        message = render_inspection({"task": task, "file": "x.csv", "labels": labels, "num_classes": 100_000})
        assert "…and 99,980 more labels (100,000 in all)." in message and len(message) < 3_000
    # Two or three labels are shown as before, with no line about more.
    few = render_inspection({"task": "text-classification", "labels": labels[:3]})
    assert "| L2 | 2 | 0.0% |" in few and "more label" not in few


def test_the_full_label_list_stays_in_the_report_the_planner_reads(tmp_path: Path) -> None:
    report = inspect_file(_many_labels(tmp_path / "labels.csv", 300), label_column="label")
    assert len(report["labels"]) == report["num_classes"] == 300 and "labels_not_listed" not in report


DEEP = "[" * 5_000 + "]" * 5_000
ALMOST = "[" * 990 + "]" * 990  # parsed by Python's json, but too deep for its writer


@pytest.mark.parametrize("nested", [DEEP, ALMOST], ids=["5000-deep", "990-deep"])
def test_deeply_nested_json_lines_are_bad_lines_not_a_crash(tmp_path: Path, nested: str) -> None:
    path = tmp_path / "deep.jsonl"
    good = [json.dumps({"text": f"a fine text {i}", "label": "ab"[i % 2]}) for i in range(6)]
    path.write_text("\n".join([*good[:3], f'{{"text": {nested}, "label": "a"}}', *good[3:]]) + "\n")
    table = load_table(path)
    assert len(table.rows) == 6 and table.bad_lines == [4]
    report = inspect_file(path)
    assert report["bad_lines"] == {"count": 1, "rows": [4]}


def test_deeply_nested_json_documents_and_cells_are_one_sentence(tmp_path: Path) -> None:
    array = tmp_path / "deep.json"
    array.write_text('[{"text": "fine", "label": "a"},\n{"text": ' + DEEP + ', "label": "b"}]')
    with pytest.raises(UserError) as refused:
        load_table(array)
    assert str(refused.value) == (
        "'deep.json' is a JSON array with a record nested deeper than 100 levels at line 2; flatten that record or "
        "remove it."
    )
    document = tmp_path / "deep-doc.json"
    document.write_text('{"data": ' + DEEP + "}")
    with pytest.raises(UserError, match="has no JSON objects"):
        load_table(document)
    # A CSV cell holding deep JSON stays a string: it is not parsed into the record.
    cells = tmp_path / "cells.csv"
    cells.write_text("messages,label\n" + "".join(f'"{ALMOST}",{"ab"[i % 2]}\n' for i in range(4)))
    with pytest.raises(UserError):
        inspect_file(cells, task="sft")


def test_a_failed_upload_copy_leaves_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    workspace = Workspace.from_env()
    source = tmp_path / "reviews.csv"
    source.write_text("text,label\n" + "a review,pos\n" * 1000)

    def copy_then_fail(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        raise OSError(5, "Input/output error")  # a source that fails mid-read (a full disk: test_disk_full.py)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(UserError) as refused:
        workspace.import_file(source, session_id="full")
    assert str(refused.value) == (
        "'reviews.csv' could not be copied into the workspace (Input/output error); free some disk space or "
        "check the file, then upload it again."
    )
    assert list(workspace.uploads_for("full").iterdir()) == []

    def interrupted(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"text,label\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        workspace.import_file(source, session_id="full")
    assert list(workspace.uploads_for("full").iterdir()) == []
