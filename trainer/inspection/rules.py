"""The one checker of OpenAI's fine-tuning format: inspection, the streaming checker and the OpenAI plan
all ask it, so a file that passes inspection is a file the plan accepts.

Chat records follow OpenAI's fine-tuning format with the error classes of OpenAI's cookbook checker
(data_type, missing_messages_list, message_missing_key, message_unrecognized_key, unrecognized_role,
missing_content, example_missing_assistant_message), extended the way the fine-tuning API is: tool
definitions, assistant `tool_calls` (whose content may be empty), `tool` messages answering them, the
developer role, refusals and `weight` (0 or 1, on assistant messages only). DPO records
({"input": {"messages"}, "preferred_output", "non_preferred_output"}) follow the same message rules
plus their own, and no example may exceed OpenAI's token limit. Each code is counted once per
example, so counts are numbers of examples to fix.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Keys a message may carry and its roles: the cookbook's lists plus what the API accepts today.
MESSAGE_KEYS = frozenset(
    ("role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id", "refusal")
)
ROLES = frozenset(("system", "developer", "user", "assistant", "function", "tool"))
MAX_TOKENS_PER_EXAMPLE = 65_536

# OpenAI's cookbook classes, in the order reports list them.
CHAT_CODES = (
    "invalid_json",
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
)
# Rules the API enforces beyond the cookbook's checker: weights, DPO records, the token limit.
WEIGHT_CODES = ("invalid_weight",)
PREFERENCE_CODES = ("missing_input", "input_not_user_last", "invalid_output", "identical_outputs")
LENGTH_CODES = ("too_many_tokens",)
CODES = (*CHAT_CODES, *WEIGHT_CODES, *PREFERENCE_CODES, *LENGTH_CODES)

# (what is wrong, what to do) per code; chat_problem_message makes the sentence.
CHAT_FIXES = {
    "invalid_json": ("Not valid JSON", "fix the quoting or remove the broken lines"),
    "data_type": ("Not a JSON object, or holding a message that is not one", "make each line an object"),
    "missing_messages_list": ('No non-empty "messages" list', 'put each conversation under "messages"'),
    "message_missing_key": ('A message without "role" or "content"', "give every message both"),
    "message_unrecognized_key": (
        "A message key OpenAI does not accept",
        "keep only role, content, name, weight, tool_calls, tool_call_id, function_call and refusal",
    ),
    "unrecognized_role": (
        "A role other than system, developer, user, assistant, tool or function",
        "rename it to one of those",
    ),
    "missing_content": ("A message with empty or non-text content", "fill it in or remove the message"),
    "example_missing_assistant_message": (
        "No assistant message, so nothing to learn",
        "add the answer or remove the example",
    ),
    "invalid_weight": (
        "A weight other than 0 or 1, or on a message that is not the assistant's",
        "use weight 0 or 1 on assistant messages only",
    ),
    "missing_input": ('No "input" with a non-empty "messages" list', "put the prompt conversation under input"),
    "input_not_user_last": ("An input that does not end with a user message", "end each input with the user's turn"),
    "invalid_output": (
        "A preferred_output or non_preferred_output that is not one assistant message",
        "give each a list holding one assistant message",
    ),
    "identical_outputs": ("The same preferred and non-preferred answer", "make them differ or remove the example"),
    "too_many_tokens": (
        f"More than OpenAI's {MAX_TOKENS_PER_EXAMPLE:,} tokens in one example",
        "shorten it or split it into several",
    ),
}


def what_is_wrong(code: str) -> str:
    """The code's problem as a phrase to put inside a sentence ("no assistant message, so nothing to learn")."""
    what = CHAT_FIXES[code][0]
    return what[0].lower() + what[1:]


def chat_problem_message(code: str, count: int, lines: list[int], unit: str = "line") -> str:
    """One sentence: what is wrong, how many examples, the first lines (or examples), and the fix."""
    what, fix = CHAT_FIXES[code]
    shown = ", ".join(str(n) for n in lines[:5]) + (", …" if count > len(lines[:5]) else "")
    plural = "s" if count != 1 else ""
    return f"{what}: {count} example{plural} ({unit}{plural} {shown}); {fix}."


def _content_ok(message: dict[str, Any]) -> bool:
    content = message.get("content")
    calls = message.get("tool_calls") or message.get("function_call")
    if isinstance(content, str):
        return bool(content) or bool(calls)
    if content is None:
        return bool(calls)
    # Content parts ([{"type": "text", "text": ...}, {"type": "image_url", ...}]) as the API accepts them.
    return isinstance(content, list) and bool(content) and all(isinstance(p, dict) and "type" in p for p in content)


def _message_errors(messages: list[Any], found: set[str]) -> bool:
    """Add the codes of a list of messages to `found`; True when one of them is the assistant's."""
    has_assistant = False
    for message in messages:
        if not isinstance(message, dict):
            found.add("data_type")
            continue
        if "role" not in message or ("content" not in message and not message.get("tool_calls")):
            found.add("message_missing_key")
        if not MESSAGE_KEYS.issuperset(message):
            found.add("message_unrecognized_key")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            found.add("unrecognized_role")
        if not _content_ok(message):
            found.add("missing_content")
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            found.add("invalid_weight")
        if role == "assistant":
            has_assistant = True
    return has_assistant


def _ordered(found: set[str]) -> list[str]:
    return [code for code in CODES if code in found]


def chat_example_errors(example: Any) -> list[str]:
    """The error codes of one parsed chat record, each at most once, in CODES order."""
    if not isinstance(example, dict):
        return ["data_type"]
    messages = example.get("messages")
    if not messages or not isinstance(messages, list):
        return ["missing_messages_list"]
    found: set[str] = set()
    if not _message_errors(messages, found):
        found.add("example_missing_assistant_message")
    return _ordered(found)


def preference_example_errors(example: Any) -> list[str]:
    """The error codes of one OpenAI DPO record {"input": {"messages"}, "preferred_output", "non_preferred_output"}."""
    if not isinstance(example, dict):
        return ["data_type"]
    found: set[str] = set()
    source = example.get("input")
    messages = source.get("messages") if isinstance(source, dict) else None
    if not isinstance(messages, list) or not messages:
        found.add("missing_input")
    else:
        _message_errors(messages, found)
        if isinstance(messages[-1], dict) and messages[-1].get("role") != "user":
            found.add("input_not_user_last")
    outputs = [example.get("preferred_output"), example.get("non_preferred_output")]
    for output in outputs:
        if not isinstance(output, list):
            found.add("invalid_output")
            continue
        _message_errors(output, found)
        if len(output) != 1 or not isinstance(output[0], dict) or output[0].get("role") != "assistant":
            found.add("invalid_output")
    if outputs[0] == outputs[1]:
        found.add("identical_outputs")
    return _ordered(found)


# ------------------------------------------------------------------------------------------ tokens


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters or one word piece per token); plans say "about"."""
    if not text:
        return 0
    pieces = len(re.findall(r"\w+|[^\w\s]", text))
    return max(pieces, math.ceil(len(text) / 4))


def example_tokens(example: dict[str, Any]) -> int:
    """Tokens of one well-formed training example as billed: every message plus a few tokens of framing each."""
    if "messages" in example:
        messages = example["messages"]
    else:  # DPO: the input plus both answers
        messages = [*example["input"]["messages"], *example["preferred_output"], *example["non_preferred_output"]]
    total = 3
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content or "")
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"])
        total += 4 + approx_tokens(text)
    return total


def example_problems(examples: list[dict[str, Any]], *, preference: bool = False) -> list[dict[str, Any]]:
    """Every rule over a list of chat (or, with `preference`, DPO) records, as problems {code, count, rows,
    message} in CODES order; rows are 1-based example numbers."""
    check = preference_example_errors if preference else chat_example_errors
    numbers: dict[str, list[int]] = {}
    for number, example in enumerate(examples, start=1):
        codes = check(example)
        # Only a well-formed example can be measured; the others are fixed first.
        if not codes and example_tokens(example) > MAX_TOKENS_PER_EXAMPLE:
            codes = ["too_many_tokens"]
        for code in codes:
            numbers.setdefault(code, []).append(number)
    return [
        {
            "code": code,
            "count": len(numbers[code]),
            "rows": numbers[code][:10],
            "message": chat_problem_message(code, len(numbers[code]), numbers[code], unit="example"),
        }
        for code in CODES
        if code in numbers
    ]
