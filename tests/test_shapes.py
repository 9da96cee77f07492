"""Shape detection and conversion to chat, preference and KTO records, on small files made here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.convert import load_chat_examples, load_kto_examples, load_preference_pairs
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape
from trainer.data.task_choice import normalize_task
from trainer.tasks.registry import all_tasks


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_array(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


def shape_of(path: Path) -> dict[str, Any]:
    return detect_shape(load_table(path))


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
]


def test_openai_messages_with_tools_are_kept_as_they_are(tmp_path: Path) -> None:
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'}}
    with_tools = [
        {"role": "user", "content": "add 2 and 2"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        {"role": "assistant", "content": "It is 4."},
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": MESSAGES}, {"messages": with_tools, "tools": [tool]}])
    info = shape_of(path)
    assert (info["task"], info["shape"]) == ("chat-sft", "openai-messages+tools")
    assert info["mapping"] == {"messages": "messages", "tools": "tools"} and info["confidence"] > 0.9
    records = load_chat_examples(path)
    assert records[0] == {"messages": MESSAGES}
    assert records[1]["messages"] == with_tools and records[1]["tools"] == [tool]


def test_prompt_completion_and_alpaca_become_messages(tmp_path: Path) -> None:
    pc = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "Capital of France?", "completion": "Paris"}] * 2)
    assert shape_of(pc)["task"] == "prompt-completion"
    assert load_chat_examples(pc)[0] == {
        "messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris"}]
    }
    alpaca = write_array(
        tmp_path / "alpaca.json",
        [
            {"instruction": "Translate to French", "input": "cat", "output": "chat", "system": "Be brief."},
            {"instruction": "Say hi", "input": "", "output": "Hi!", "history": [["Hello", "Hey"]]},
        ],
    )
    info = shape_of(alpaca)
    assert info["task"] == "alpaca" and info["mapping"]["input"] == "input"
    first, second = load_chat_examples(alpaca)
    assert first["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Translate to French\n\ncat"},
        {"role": "assistant", "content": "chat"},
    ]
    assert [m["content"] for m in second["messages"]] == ["Hello", "Hey", "Say hi", "Hi!"]


def test_sharegpt_with_function_calls_becomes_openai_tool_calls(tmp_path: Path) -> None:
    tools = json.dumps([{"name": "weather", "description": "Weather now", "parameters": {"type": "object"}}])
    record = {
        "conversations": [
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": json.dumps({"name": "weather", "arguments": {"city": "Oslo"}})},
            {"from": "observation", "value": '{"temp": 3}'},
            {"from": "gpt", "value": "It is 3 degrees."},
        ],
        "tools": tools,
        "system": "You help with weather.",
    }
    path = write_array(tmp_path / "tools.json", [record, record])
    info = shape_of(path)
    assert (info["task"], info["shape"]) == ("sharegpt", "sharegpt+tools")
    messages = load_chat_examples(path)[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    call = messages[2]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city": "Oslo"}'}
    assert messages[3] == {"role": "tool", "content": '{"temp": 3}', "tool_call_id": call["id"]}
    assert load_chat_examples(path)[0]["tools"][0]["function"]["name"] == "weather"


def test_preference_pairs_in_three_shapes(tmp_path: Path) -> None:
    plain = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}])
    assert shape_of(plain)["task"] == "preference"
    assert load_preference_pairs(plain) == [
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello!"}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        }
    ]
    sharegpt = write_array(
        tmp_path / "dpo.json",
        [
            {
                "conversations": [{"from": "human", "value": "Name a colour"}],
                "chosen": {"from": "gpt", "value": "Blue"},
                "rejected": {"from": "gpt", "value": "Seven"},
            }
        ],
    )
    info = shape_of(sharegpt)
    assert (info["task"], info["shape"]) == ("preference", "sharegpt-preference")
    pair = load_preference_pairs(sharegpt)[0]
    assert pair["prompt"] == [{"role": "user", "content": "Name a colour"}]
    assert pair["chosen"] == [{"role": "assistant", "content": "Blue"}]
    # Full conversations without a prompt column: the shared start is the prompt.
    implicit = write_jsonl(
        tmp_path / "hh.jsonl",
        [
            {
                "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
                "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}],
            }
        ],
    )
    pair = load_preference_pairs(implicit)[0]
    assert pair["prompt"] == [{"role": "user", "content": "Q"}] and pair["rejected"][0]["content"] == "bad"


def test_kto_from_messages_and_from_prompt_completion(tmp_path: Path) -> None:
    path = write_array(
        tmp_path / "kto.json",
        [
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "label": True},
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Meh"}], "label": False},
        ],
    )
    assert shape_of(path)["task"] == "kto"
    examples = load_kto_examples(path)
    assert examples[1] == {
        "prompt": [{"role": "user", "content": "Hi"}],
        "completion": [{"role": "assistant", "content": "Meh"}],
        "label": False,
    }
    csv_path = tmp_path / "kto.csv"
    csv_path.write_text("prompt,completion,label\nHi there,Hello friend,true\nHi there,Whatever,false\n")
    assert [e["label"] for e in load_kto_examples(csv_path)] == [True, False]


def test_classification_regression_pairs_and_media_are_recognised(tmp_path: Path) -> None:
    texts = [f"review number {i} of the little cafe" for i in range(30)]
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("text,label\n" + "".join(f"{t},{'pos' if i % 2 else 'neg'}\n" for i, t in enumerate(texts)))
    info = shape_of(labelled)
    assert info["task"] == "text-classification" and info["mapping"] == {"text": "text", "label": "label"}

    scored = tmp_path / "scored.csv"
    scored.write_text("text,score\n" + "".join(f"{t},{i / 7:.3f}\n" for i, t in enumerate(texts)))
    info = shape_of(scored)
    assert info["task"] == "regression" and info["mapping"] == {"text": "text", "label": "score"}

    pairs = tmp_path / "nli.tsv"
    pairs.write_text(
        "premise\thypothesis\tlabel\n"
        + "".join(f"{t}\tsomething else {i}\t{['entail', 'neutral'][i % 2]}\n" for i, t in enumerate(texts))
    )
    info = shape_of(pairs)
    assert info["task"] == "text-pair-classification"
    assert info["mapping"] == {"text": "premise", "text_pair": "hypothesis", "label": "label"}

    images = tmp_path / "images.csv"
    images.write_text("image,label\n" + "".join(f"img/{i}.jpg,{'cat' if i % 2 else 'dog'}\n" for i in range(20)))
    assert shape_of(images)["task"] == "image-classification"
    audio = tmp_path / "audio.csv"
    audio.write_text("path,word\n" + "".join(f"clips/{i}.wav,{'yes' if i % 2 else 'no'}\n" for i in range(20)))
    info = shape_of(audio)
    assert info["task"] == "audio-classification" and info["mapping"] == {"audio": "path", "label": "word"}


def test_wrong_kind_of_file_gets_one_sentence_naming_what_it_is(tmp_path: Path) -> None:
    labelled = tmp_path / "spam.csv"
    labelled.write_text("text,label\n" + "".join(f"message number {i} here,{i % 2}\n" for i in range(20)))
    for loader, fragment in (
        (load_chat_examples, "not conversations"),
        (load_preference_pairs, "not preference pairs"),
        (load_kto_examples, "not KTO examples"),
    ):
        with pytest.raises(UserError) as caught:
            loader(labelled)
        message = str(caught.value)
        assert "spam.csv" in message and "text classification" in message and fragment in message
        assert "\n" not in message and message.endswith(".")


def test_conversations_are_named_by_what_they_hold_when_pairs_are_wanted(tmp_path: Path) -> None:
    chats = write_jsonl(tmp_path / "chat.jsonl", [{"messages": MESSAGES}] * 3)
    for loader, fragment in ((load_preference_pairs, "not preference pairs"), (load_kto_examples, "not KTO examples")):
        with pytest.raises(UserError) as caught:
            loader(chats)
        assert f"'chat.jsonl' holds conversations (OpenAI messages), {fragment}" in str(caught.value)


def test_every_word_for_data_names_a_kind_and_every_task_trains_known_kinds() -> None:
    assert set(kinds.ALIASES.values()) <= {*kinds.KINDS, kinds.ANY_CONVERSATION}
    assert kinds.ANY_CONVERSATION not in kinds.KINDS
    for group in (kinds.CONVERSATIONS, kinds.LANGUAGE_MODEL_DATA, kinds.LABELLED_TEXT, kinds.MEDIA):
        assert set(group) <= set(kinds.KINDS)
    assert normalize_task("Chat") == normalize_task("alpaca") == normalize_task("sft") == kinds.ANY_CONVERSATION
    assert normalize_task("DPO") == "preference" and normalize_task("text pair") == "text-pair-classification"
    for task in all_tasks():
        assert task.data_kinds and set(task.data_kinds) <= set(kinds.KINDS), task.name


def test_broken_records_are_named_by_line_and_can_be_skipped(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [json.dumps({"messages": MESSAGES})] * 3
    lines.insert(1, json.dumps({"messages": [{"role": "user", "content": "no answer"}]}))
    path.write_text("\n".join(lines) + '\n{"messages": [', encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_chat_examples(path)
    message = str(caught.value)
    assert "2 unusable records" in message and "line 2: no assistant message" in message
    assert "tunechat prepare chat.jsonl" in message
    assert len(load_chat_examples(path, skip_invalid=True)) == 3
