"""Problems with codes, lines and fixes: OpenAI's chat format classes (in memory and streaming), personal data,
NaN labels, held-out overlap, regression targets and the task override. Small files made here."""

from __future__ import annotations

import json
import random
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trainer.core.errors import UserError
from trainer.inspection import stream as stream_check
from trainer.inspection.personal_data import find_pii, luhn_ok
from trainer.inspection.report import inspect_file
from trainer.inspection.rules import CHAT_CODES, chat_example_errors
from trainer.inspection.stream import check_chat_jsonl

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
# One line per error class, each carrying exactly the codes listed with it.
BAD: list[tuple[str, list[str]]] = [
    ('{"messages": [{"role": "user", "content": "cut', ["invalid_json"]),
    (json.dumps([{"role": "user", "content": "x"}]), ["data_type"]),
    (json.dumps({"conversation": GOOD["messages"]}), ["missing_messages_list"]),
    (json.dumps({"messages": []}), ["missing_messages_list"]),
    (
        json.dumps({"messages": [{"content": "no role"}, GOOD["messages"][1]]}),
        ["message_missing_key", "unrecognized_role"],
    ),
    (
        json.dumps({"messages": [{**GOOD["messages"][0], "mood": "x"}, GOOD["messages"][1]]}),
        ["message_unrecognized_key"],
    ),
    (json.dumps({"messages": [{"role": "bot", "content": "x"}, GOOD["messages"][1]]}), ["unrecognized_role"]),
    (json.dumps({"messages": [{"role": "user", "content": ""}, GOOD["messages"][1]]}), ["missing_content"]),
    (json.dumps({"messages": [{"role": "user", "content": 5}, GOOD["messages"][1]]}), ["missing_content"]),
    (json.dumps({"messages": [GOOD["messages"][0]]}), ["example_missing_assistant_message"]),
]


def test_each_openai_error_class_for_one_record() -> None:
    for line, codes in BAD[1:]:
        assert chat_example_errors(json.loads(line)) == codes, line
    assert chat_example_errors(GOOD) == []
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tools = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny.", "weight": 1},
        ]
    }
    assert chat_example_errors(tools) == []


def write_chat_file(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """Good lines with every bad line planted at random places, a few blank and duplicate lines, CRLF ends."""
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(rows):
        messages = [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
        lines.append(json.dumps({"messages": messages}))
    expected: Counter[str] = Counter()
    first: dict[str, list[int]] = {}
    positions = sorted(rng.sample(range(rows), 3 * len(BAD)))
    for index, position in enumerate(positions):
        line, codes = BAD[index % len(BAD)]
        lines[position] = line
    lines[7] = lines[3]  # an exact duplicate
    lines.insert(11, "")  # a blank line shifts what follows
    seen: set[str] = set()
    duplicates: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if line in seen:
            duplicates.append(number)
        seen.add(line)
        codes = next((c for text, c in BAD if text == line), [])
        for code in codes:
            expected[code] += 1
            first.setdefault(code, []).append(number)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return {
        "counts": dict(expected),
        "first": {k: v[:5] for k, v in first.items()},
        "rows": len(lines) - 1,
        "duplicates": duplicates,
    }


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "two-processes"])
def test_streaming_checker_counts_every_planted_error_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    path = tmp_path / "chat.jsonl"
    truth = write_chat_file(path, 3000)
    if parallel:
        monkeypatch.setattr(stream_check, "PARALLEL_ABOVE", 0)
        monkeypatch.setattr(stream_check, "CHUNK_BYTES", 4096)  # many chunks: lines cut across reads
    report = check_chat_jsonl(path, workers=2 if parallel else 1)
    assert report["errors"] == truth["counts"]
    assert report["rows"] == truth["rows"] and report["blank_lines"] == 1
    assert report["valid_rows"] == truth["rows"] - sum(1 for _ in range(3 * len(BAD)))
    by_code = {p["code"]: p for p in report["problems"]}
    for code, lines in truth["first"].items():
        assert by_code[code]["rows"] == lines, code
        assert f"line{'s' if len(lines) > 1 else ''} {lines[0]}" in by_code[code]["message"]
    # Planted lines repeat (each bad line 3 times) and line 8 copies line 4.
    assert by_code["duplicates"]["count"] == len(truth["duplicates"]) == 21
    assert by_code["duplicates"]["rows"] == truth["duplicates"][:5] and 8 in truth["duplicates"]
    assert report["messages_per_example"][2] > 2900


def test_in_memory_inspection_reports_the_same_classes_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    truth = write_chat_file(path, 300, seed=1)
    report = inspect_file(path)
    assert (report["task"], report["shape"], report["mapping"]) == (
        "chat-sft",
        "openai-messages",
        {"messages": "messages"},
    )
    counts = {p["code"]: p["count"] for p in report["problems"] if p["code"] in CHAT_CODES}
    assert counts == truth["counts"]
    rows = {p["code"]: p["rows"] for p in report["problems"]}
    for code in CHAT_CODES:
        assert rows[code] == truth["first"][code], code


def test_large_chat_jsonl_is_streamed_by_inspection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.jsonl"
    truth = write_chat_file(path, 2000, seed=2)
    monkeypatch.setenv("TUNECHAT_STREAM_ABOVE", "1000")
    report = inspect_file(path)
    assert report["streamed"] and report["task"] == "chat-sft"
    assert report["errors"] == truth["counts"]
    assert report["length_tokens"]["estimated"] and report["length_tokens"]["tokens_per_epoch"] > 0
    assert "streaming" in report["notes"][0]


def test_personal_data_is_found_with_its_lines(tmp_path: Path) -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert find_pii("write to ann.lee@example.org today") == ["email"]
    assert find_pii("call me on +44 20 7946 0958") == ["phone"]
    assert find_pii("card 4111 1111 1111 1111 exp 12/29") == ["card"]
    assert find_pii("the sum is 0.3571428571 and 355909190063-746") == []
    rows = [f"an ordinary review about the food, number {i}" for i in range(20)]
    rows[4] = "great food, email me at bob@example.com"
    rows[9] = "my card 4111-1111-1111-1111 was charged twice"
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{"pos" if i % 2 else "neg"}\n' for i, t in enumerate(rows)))
    problem = next(p for p in inspect_file(path)["problems"] if p["code"] == "personal_data")
    assert problem["count"] == 2 and problem["rows"] == [6, 11]
    assert "emails (1)" in problem["message"] and "card numbers (1)" in problem["message"]


def test_nan_labels_and_overlap_between_the_users_splits(tmp_path: Path) -> None:
    texts = [f"the {i}th review of the small cafe downtown" for i in range(30)]
    train = "text,label\n" + "".join(f"{t},{['pos', 'neg'][i % 2]}\n" for i, t in enumerate(texts))
    train += "a review whose label went missing,NaN\n"
    test = "text,label\n" + f"{texts[3]},neg\nsomething new and different,pos\n"
    archive = tmp_path / "splits.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("train.csv", train)
        zipped.writestr("test.csv", test)
    problems = {p["code"]: p for p in inspect_file(archive)["problems"]}
    assert problems["nan_labels"]["rows"] == [32] and "NaN" in problems["nan_labels"]["message"]
    assert problems["split_overlap"]["count"] == 1 and problems["split_overlap"]["rows"] == [2]
    assert "1 in test" in problems["split_overlap"]["message"]


def test_regression_detected_and_overridden(tmp_path: Path) -> None:
    rows = [(f"a review of the hotel, version {i}", f"{(i * 37 % 50) / 10:.1f}") for i in range(40)]
    rows.append(("a review without a usable score", "n/a"))
    path = tmp_path / "scores.csv"
    path.write_text("review,score\n" + "".join(f"{t},{s}\n" for t, s in rows))
    report = inspect_file(path)
    assert (report["task"], report["mapping"]) == ("regression", {"text": "review", "label": "score"})
    assert report["target"]["min"] == 0.0 and report["target"]["max"] == 4.9
    assert report["problems"][0]["code"] == "non_numeric_labels" and report["problems"][0]["rows"] == [42]

    # Integer ratings look like classes; "treat it as regression" (--task regression) overrides that.
    stars = tmp_path / "stars.csv"
    stars.write_text("text,stars\n" + "".join(f"the {i}th stay at the inn,{i % 5 + 1}\n" for i in range(40)))
    assert inspect_file(stars)["task"] == "text-classification"
    forced = inspect_file(stars, task="regression", label_column="stars")
    assert forced["task"] == "regression" and forced["target"]["distinct"] == 5
    with pytest.raises(UserError) as caught:
        inspect_file(stars, task="kto")
    assert "not kto data" in str(caught.value) and "stars.csv" in str(caught.value)
    with pytest.raises(UserError) as caught:
        inspect_file(stars, task="juggling")
    assert "not a task tunechat knows" in str(caught.value)


def test_every_llm_shape_reports_task_mapping_lengths(tmp_path: Path) -> None:
    files = {
        "pc.jsonl": [{"prompt": f"Question {i}?", "completion": f"Answer {i}."} for i in range(5)],
        "alpaca.json": [{"instruction": f"Do {i}", "input": "", "output": f"Done {i}"} for i in range(5)],
        "sharegpt.json": [
            {"conversations": [{"from": "human", "value": f"hi {i}"}, {"from": "gpt", "value": "hey"}]}
            for i in range(5)
        ],
        "dpo.jsonl": [{"prompt": f"Q{i}", "chosen": "good", "rejected": "bad"} for i in range(5)],
        "kto.jsonl": [{"prompt": f"Q{i}", "completion": "A", "label": i % 2 == 0} for i in range(5)],
    }
    expected = {
        "pc.jsonl": "prompt-completion",
        "alpaca.json": "alpaca",
        "sharegpt.json": "sharegpt",
        "dpo.jsonl": "preference",
        "kto.jsonl": "kto",
    }
    for name, records in files.items():
        path = tmp_path / name
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        else:
            path.write_text(json.dumps(records))
        report = inspect_file(path)
        assert report["task"] == expected[name] and report["usable_rows"] == 5, name
        assert report["mapping"] and report["confidence"] > 0.8
        assert report["length_tokens"]["p50"] > 0 and report["length_tokens"]["model"] == "all-MiniLM-L6-v2"
        assert report["samples"] and report["problems"] == [], (name, report["problems"])
    kto = inspect_file(tmp_path / "kto.jsonl")
    assert {e["label"]: e["count"] for e in kto["labels"]} == {"desirable": 3, "undesirable": 2}
