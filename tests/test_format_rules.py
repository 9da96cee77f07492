"""One checker of OpenAI's fine-tuning format: weights, roles and DPO records have one set of codes, and
inspection, the streaming checker and the OpenAI plan find the same problem in the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.backends.openai.plan import make_plan
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.inspection.report import inspect_file
from trainer.inspection.rules import chat_example_errors, example_problems, preference_example_errors
from trainer.inspection.stream import check_chat_jsonl

USER = {"role": "user", "content": "Hi"}
ANSWER = {"role": "assistant", "content": "Hello!"}


def test_chat_rules_beyond_the_cookbook() -> None:
    assert chat_example_errors({"messages": [{"role": "developer", "content": "Be brief."}, USER, ANSWER]}) == []
    assert chat_example_errors({"messages": [USER, {**ANSWER, "refusal": None, "weight": 0}]}) == []
    assert chat_example_errors({"messages": [USER, {**ANSWER, "weight": 2}]}) == ["invalid_weight"]
    assert chat_example_errors({"messages": [{**USER, "weight": 1}, ANSWER]}) == ["invalid_weight"]


def test_dpo_records_have_their_own_codes() -> None:
    good = {
        "input": {"messages": [USER]},
        "preferred_output": [ANSWER],
        "non_preferred_output": [{**ANSWER, "content": "No."}],
    }
    assert preference_example_errors(good) == []
    cases = [
        ({**good, "input": {"messages": []}}, ["missing_input"]),
        ({**good, "input": {"messages": [USER, ANSWER]}}, ["input_not_user_last"]),
        ({**good, "preferred_output": [ANSWER, ANSWER]}, ["invalid_output"]),
        ({**good, "preferred_output": [USER]}, ["invalid_output"]),
        ({**good, "non_preferred_output": [ANSWER]}, ["identical_outputs"]),
        (
            {**good, "input": {"messages": [{"role": "bot", "content": "x"}]}},
            ["unrecognized_role", "input_not_user_last"],
        ),
    ]
    for record, codes in cases:
        assert preference_example_errors(record) == codes, record
    problems = example_problems([good, cases[0][0], good, cases[0][0]], preference=True)
    assert [(p["code"], p["count"], p["rows"]) for p in problems] == [("missing_input", 2, [2, 4])]
    assert problems[0]["message"].startswith('No "input" with a non-empty "messages" list: 2 examples (examples 2, 4)')


def test_an_example_over_the_token_limit_is_refused() -> None:
    long = {"messages": [{"role": "user", "content": "word " * 70_000}, ANSWER]}
    problems = example_problems([{"messages": [USER, ANSWER]}, long])
    assert [(p["code"], p["rows"]) for p in problems] == [("too_many_tokens", [2])]


def test_inspection_streaming_and_the_openai_plan_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"question {i}"}, {**ANSWER, "content": f"answer {i}"}]}
        for i in range(20)
    ]
    rows[2]["messages"][1]["weight"] = 2
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    problems = {p["code"]: p for p in inspect_file(path)["problems"]}
    assert problems["invalid_weight"]["rows"] == [3] and problems["invalid_weight"]["count"] == 1
    assert check_chat_jsonl(path)["errors"] == {"invalid_weight": 1}
    monkeypatch.setenv("TUNECHAT_STREAM_ABOVE", "10")  # the streamed inspection of a large file says the same
    assert inspect_file(path)["errors"] == {"invalid_weight": 1}
    with pytest.raises(UserError) as caught:
        make_plan(Workspace.from_env(), path, "gpt-4.1-mini")
    assert str(caught.value) == (
        "'chat.jsonl' breaks OpenAI's fine-tuning format in 1 places, e.g. a weight other than 0 or 1, or on a "
        "message that is not the assistant's (example 3); fix those examples and ask again."
    )
