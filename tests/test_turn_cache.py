"""A data file is parsed once per chat turn, parsed again once it changes, and no caller can change the
parse another caller gets."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.data_tools import inspect_data, propose_plan
from trainer.core.errors import UserError
from trainer.data.read import load_table
from trainer.data.turn_cache import one_parse_per_turn
from ui.render import MARKDOWN


def reads_of(parsed: list[str], path: Path) -> int:
    """How many times `path` itself was opened for reading."""
    return parsed.count(str(path.resolve()))


def test_guided_fine_tune_turn_parses_the_upload_once(reviews_tsv: Path, parsed: list[str]) -> None:
    # The same tools called outside a chat turn read the file once per question they ask of it ...
    ctx = ToolContext.from_env(session_id="no-turn")
    name = ctx.workspace.import_file(reviews_tsv, session_id="no-turn").name
    parsed.clear()
    inspect_data(ctx, name)
    propose_plan(ctx, name)
    assert reads_of(parsed, ctx.workspace.uploads_for("no-turn") / name) >= 3

    # ... and within one guided turn ("fine-tune a classifier on this") the upload is read once.
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    parsed.clear()
    reply = assistant.reply(session, "fine-tune a classifier on this", files=[reviews_tsv])
    assert [step.name for step in reply.steps] == ["inspect_data", "propose_plan"]
    assert all(step.ok for step in reply.steps) and reply.steps[1].result["config"]["epochs"]
    assert reads_of(parsed, assistant.workspace.uploads_for(session) / "reviews.tsv") == 1


def test_a_file_changed_between_turns_is_read_again(reviews_tsv: Path, parsed: list[str]) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    first = assistant.reply(session, "inspect it", files=[reviews_tsv])
    upload = assistant.workspace.uploads_for(session) / "reviews.tsv"
    assert first.steps[0].result["rows"] == 120 and reads_of(parsed, upload) == 1

    with upload.open("a", encoding="utf-8") as handle:
        handle.write("".join(f"pos\tan added review number {i} that was lovely\n" for i in range(5)))
    second = assistant.reply(session, "inspect it")
    assert second.steps[0].result["rows"] == 125 and reads_of(parsed, upload) == 2


def test_within_a_turn_only_a_changed_file_is_parsed_again(tmp_path: Path, parsed: list[str]) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("text,label\n" + "".join(f"the {i}th text here,{'ab'[i % 2]}\n" for i in range(10)))
    with one_parse_per_turn():
        assert len(load_table(path).rows) == len(load_table(path).rows) == 10
        with one_parse_per_turn():  # a scope inside a scope shares its parses
            load_table(path)
        assert reads_of(parsed, path) == 1
        with path.open("a") as handle:
            handle.write("one more text here,a\n")
        assert len(load_table(path).rows) == 11 and reads_of(parsed, path) == 2
    # Outside a turn nothing is kept: every call parses.
    load_table(path)
    load_table(path)
    assert reads_of(parsed, path) == 4


def test_no_caller_can_change_what_the_next_caller_gets(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(f'{{"text": "the {i}th text here", "label": "{"ab"[i % 2]}"}}\n' for i in range(6)))
    with one_parse_per_turn():
        first = load_table(path)
        with pytest.raises(TypeError, match="cannot be changed"):
            first.rows[0]["label"] = "c"
        with pytest.raises(TypeError, match="cannot be changed"):
            first.records[0].update(label="c")  # type: ignore[index]
        first.rows.reverse()
        first.notes.append("a note of one caller")
        first.encoding = "latin-1"
        mutable = dict(first.rows[0])
        mutable["label"] = "c"  # a copy changes freely
        second = load_table(path)
    assert [row["text"] for row in second.rows][:2] == ["the 0th text here", "the 1th text here"]
    assert second.rows[0]["label"] == "a" and second.notes == [] and second.encoding == "utf-8"
    assert copy.deepcopy(second).rows == second.rows  # copies are plain, changeable dicts
    copied = copy.deepcopy(second)
    copied.rows[0]["label"] = "c"
    assert second.rows[0]["label"] == "a"


def test_a_file_that_cannot_be_read_fails_the_same_way_without_being_read_again(
    tmp_path: Path, parsed: list[str]
) -> None:
    path = tmp_path / "picture.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with one_parse_per_turn():
        messages = []
        for _ in range(2):
            with pytest.raises(UserError) as caught:
                load_table(path)
            messages.append(str(caught.value))
    assert messages[0] == messages[1] and "PNG image" in messages[0] and reads_of(parsed, path) == 1
