"""Rules a record must follow, shared by the in-memory inspection and the streaming checker.

Chat records follow OpenAI's fine-tuning format with the error classes of OpenAI's cookbook checker
(data_type, missing_messages_list, message_missing_key, message_unrecognized_key, unrecognized_role,
missing_content, example_missing_assistant_message), extended the way the fine-tuning API is: tool
definitions, assistant `tool_calls` (whose content may be empty) and `tool` messages answering them.
Each code is counted once per example, so counts are numbers of lines to fix.
"""

from __future__ import annotations

import re
from typing import Any

# Keys a message may carry: the cookbook's list plus the tool-calling ones the API accepts.
MESSAGE_KEYS = frozenset(("role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"))
ROLES = frozenset(("system", "user", "assistant", "function", "tool"))

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

# (what is wrong, what to do) per code; chat_problem_message makes the sentence.
CHAT_FIXES = {
    "invalid_json": ("Not valid JSON", "fix the quoting or remove the broken lines"),
    "data_type": ("Not a JSON object, or holding a message that is not one", "make each line an object"),
    "missing_messages_list": ('No non-empty "messages" list', 'put each conversation under "messages"'),
    "message_missing_key": ('A message without "role" or "content"', "give every message both"),
    "message_unrecognized_key": (
        "A message key OpenAI does not accept",
        "keep only role, content, name, weight, tool_calls and tool_call_id",
    ),
    "unrecognized_role": (
        "A role other than system, user, assistant or tool",
        "rename it to one of those",
    ),
    "missing_content": ("A message with empty or non-text content", "fill it in or remove the message"),
    "example_missing_assistant_message": (
        "No assistant message, so nothing to learn",
        "add the answer or remove the example",
    ),
}


def chat_problem_message(code: str, count: int, lines: list[int]) -> str:
    """One sentence: what is wrong, how many examples, the first lines, and the fix."""
    what, fix = CHAT_FIXES[code]
    shown = ", ".join(str(n) for n in lines[:5]) + (", …" if count > len(lines[:5]) else "")
    return f"{what}: {count} example{'s' if count != 1 else ''} (line{'s' if count != 1 else ''} {shown}); {fix}."


def _content_ok(message: dict[str, Any]) -> bool:
    content = message.get("content")
    calls = message.get("tool_calls") or message.get("function_call")
    if isinstance(content, str):
        return bool(content) or bool(calls)
    if content is None:
        return bool(calls)
    # Content parts ([{"type": "text", "text": ...}, {"type": "image_url", ...}]) as the API accepts them.
    return isinstance(content, list) and bool(content) and all(isinstance(p, dict) and "type" in p for p in content)


def chat_example_errors(example: Any) -> list[str]:
    """The error codes of one parsed chat record, each at most once, in CHAT_CODES order."""
    if not isinstance(example, dict):
        return ["data_type"]
    messages = example.get("messages")
    if not messages or not isinstance(messages, list):
        return ["missing_messages_list"]
    found: set[str] = set()
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
        if role == "assistant":
            has_assistant = True
    if not has_assistant:
        found.add("example_missing_assistant_message")
    return [code for code in CHAT_CODES if code in found]


# ------------------------------------------------------------------------------------------ personal data

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Runs of digits with the separators people type; the checks below decide what they are.
DIGIT_RUN = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{7,}\d(?![\w])")


# Card numbers as people write them: one run, or groups of four (Amex 4-6-5), with the issuers' prefixes.
CARD_LAYOUT = re.compile(r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5}")
CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|6(?:011|5)")
PHONE_GROUPS = re.compile(
    r"\+?\d{2,5}(?:[ -]\d{2,5}){1,4}|\(\d{2,5}\) ?\d{3,4}[ -]?\d{3,4}|\d{3}\.\d{3}\.\d{4}|\+\d{9,14}|0\d{9,11}"
)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[-.]\d{2}[-.]\d{4}")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_pii(text: str) -> list[str]:
    """Kinds of personal data in a text: 'email', 'phone', 'card' (each at most once)."""
    kinds: list[str] = []
    if "@" in text and EMAIL.search(text):
        kinds.append("email")
    phone = card = False
    for match in DIGIT_RUN.finditer(text):
        raw = match.group().strip()
        digits = re.sub(r"\D", "", raw)
        if CARD_LAYOUT.fullmatch(raw) and CARD_PREFIX.match(digits) and 13 <= len(digits) <= 19 and luhn_ok(digits):
            card = True
        elif 9 <= len(digits) <= 15 and PHONE_GROUPS.fullmatch(raw) and not DATE.match(raw):
            # Phone numbers are written in groups of digits; decimals, dates and sums are not phones.
            phone = True
    if phone:
        kinds.append("phone")
    if card:
        kinds.append("card")
    return kinds
