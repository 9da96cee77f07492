"""Messages in OpenAI's chat form from what people bring: texts, message lists, ShareGPT turns, tool definitions."""

from __future__ import annotations

import json
from typing import Any

from trainer.data.json_text import loads
from trainer.data.values import is_messages, is_sharegpt

# ShareGPT speakers (LLaMA-Factory, FastChat, Glaive exports) in OpenAI roles.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "system": "system",
    "function_call": "function_call",
    "tool_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
    "function_response": "tool",
}


class RecordError(ValueError):
    """One record that does not fit its file's shape; the message says why in a few words."""


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def string_or_messages(value: Any, role: str) -> list[dict[str, Any]]:
    """A prompt or answer given either as text or already as a message list (or one message)."""
    if is_messages(value):
        return [dict(m) for m in value]
    if isinstance(value, dict) and "role" in value:
        return [dict(value)]
    if isinstance(value, dict) and "from" in value:
        return sharegpt_messages([value])
    if is_sharegpt(value):
        return sharegpt_messages(value)
    text = as_text(value).strip()
    if not text:
        raise RecordError(f"empty {role} text")
    return [{"role": role, "content": text}]


def tool_definitions(value: Any) -> list[dict[str, Any]] | None:
    """Tool definitions in OpenAI form; LLaMA-Factory stores bare {name, description, parameters} as a string."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = loads(value)
        except json.JSONDecodeError:
            raise RecordError("its tools are not valid JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RecordError("its tools are not a list of tool definitions")
    tools = []
    for tool in value:
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            tools.append(tool)
        elif "name" in tool:
            tools.append({"type": "function", "function": tool})
        else:
            raise RecordError("a tool definition has no name")
    return tools or None


def _function_call(value: str, number: int) -> list[dict[str, Any]]:
    try:
        parsed = loads(value)
    except json.JSONDecodeError:
        raise RecordError("a function_call turn is not valid JSON") from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    result = []
    for offset, call in enumerate(calls):
        if not isinstance(call, dict) or "name" not in call:
            raise RecordError("a function_call turn has no function name")
        arguments = call.get("arguments", {})
        result.append(
            {
                "id": f"call_{number}_{offset}",
                "type": "function",
                "function": {"name": str(call["name"]), "arguments": as_text(arguments) if arguments != "" else "{}"},
            }
        )
    return result


def sharegpt_messages(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of tool calls still waiting for their observation
    for number, turn in enumerate(turns):
        speaker = str(turn.get("from", "")).strip().lower()
        role = SHAREGPT_ROLES.get(speaker)
        if role is None:
            raise RecordError(f"unknown speaker '{clip(speaker)}' in turn {number + 1}")
        value = turn.get("value")
        if role == "function_call":
            calls = _function_call(as_text(value), number)
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            pending = [c["id"] for c in calls]
        elif role == "tool":
            # Parallel calls answered by one observation: split a JSON list of results when counts match.
            results: list[Any] = [value]
            if len(pending) > 1 and isinstance(value, str):
                try:
                    parsed = loads(value)
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list) and len(parsed) == len(pending):
                    results = parsed
            for offset, result in enumerate(results):
                message: dict[str, Any] = {"role": "tool", "content": as_text(result)}
                if pending:
                    message["tool_call_id"] = pending[min(offset, len(pending) - 1)]
                messages.append(message)
            pending = []
        else:
            messages.append({"role": role, "content": as_text(value)})
    return messages


def with_system(messages: list[dict[str, Any]], system: Any) -> list[dict[str, Any]]:
    text = as_text(system).strip()
    if text and not (messages and messages[0].get("role") == "system"):
        return [{"role": "system", "content": text}, *messages]
    return messages


def has_answer(message: dict[str, Any]) -> bool:
    content = message.get("content")
    filled = bool(content.strip()) if isinstance(content, str) else bool(content)
    return message.get("role") == "assistant" and (filled or bool(message.get("tool_calls")))


def clip(value: str, limit: int = 30) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
