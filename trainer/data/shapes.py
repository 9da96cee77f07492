"""Recognise what a table of records is for (chat, preference pairs, classification, ...) and convert it.

The shapes people bring for fine-tuning language models differ only in column names and nesting:
OpenAI `messages`, prompt/completion, Alpaca instruction/input/output, ShareGPT `conversations`
with from/value, preference pairs and KTO's labelled completions. `detect_shape` names the task and
the columns it used; the `load_*` functions turn any of them into the one form the trainers take:
OpenAI chat records for SFT and TRL's conversational form for DPO and KTO.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.read import Table, load_table, pick_columns

SFT_TASKS = ("chat-sft", "prompt-completion", "alpaca", "sharegpt")
TASKS = (
    *SFT_TASKS,
    "preference",
    "kto",
    "text-classification",
    "text-pair-classification",
    "regression",
    "image-classification",
    "audio-classification",
    "text",
)
SAMPLE_RECORDS = 200  # records looked at to decide a shape; shapes are uniform, so a few suffice

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
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus", ".aac")
PAIR_NAMES = (
    ("sentence1", "sentence2"),
    ("premise", "hypothesis"),
    ("question", "sentence"),
    ("question1", "question2"),
    ("text_a", "text_b"),
    ("text1", "text2"),
    ("query", "passage"),
    ("query", "document"),
    ("anchor", "positive"),
)
REGRESSION_HINTS = ("score", "rating", "stars", "value", "target", "y", "label", "similarity", "price", "grade")
KTO_LABELS = ("label", "kto_tag", "desirable", "is_desirable")
TRUE_WORDS = {"true", "1", "yes", "y", "t", "good", "desirable", "1.0"}
FALSE_WORDS = {"false", "0", "no", "n", "f", "bad", "undesirable", "0.0"}


class RecordError(ValueError):
    """One record that does not fit its file's shape; the message says why in a few words."""


# ------------------------------------------------------------------------------------------ values


def record_value(table: Table, index: int, column: str) -> Any:
    """A field with its structure: parsed JSON for JSON sources, JSON-looking CSV cells parsed too."""
    if table.records is not None:
        value = table.records[index].get(column)
    else:
        value = table.rows[index].get(column)
    if isinstance(value, str) and value[:1] in ("[", "{") and value.rstrip()[-1:] in ("]", "}"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _column_values(table: Table, column: str, limit: int = SAMPLE_RECORDS) -> list[Any]:
    return [v for i in range(min(limit, len(table.rows))) if (v := record_value(table, i, column)) is not None]


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _is_sharegpt(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "from" in m for m in value)


def _share(values: list[Any], test: Callable[[Any], bool]) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if number == number else None  # NaN is not a target
    return None


# ------------------------------------------------------------------------------------------ detection


def detect_shape(table: Table) -> dict[str, Any]:
    """Name the task a table is for, the shape it has and which column plays which role.

    Returns {"task", "shape", "mapping": {role: column}, "confidence": 0..1, "reason"}; raises
    UserError (one sentence) when no known shape fits.
    """
    lower = {c.lower().strip(): c for c in table.columns}

    def col(*names: str) -> str | None:
        return next((lower[n] for n in names if n in lower), None)

    def shape(
        task: str, name: str, mapping: Mapping[str, str | None], confidence: float, reason: str
    ) -> dict[str, Any]:
        return {
            "task": task,
            "shape": name,
            "mapping": {k: v for k, v in mapping.items() if v},
            "confidence": round(confidence, 2),
            "reason": reason,
        }

    messages = col("messages", "conversation", "conversations", "chat", "dialog", "dialogue")
    messages_values = _column_values(table, messages) if messages else []
    openai_share = _share(messages_values, _is_messages)
    sharegpt_share = _share(messages_values, _is_sharegpt)
    tools = col("tools", "functions")
    system = col("system", "system_prompt")
    chosen, rejected = col("chosen", "preferred_output"), col("rejected", "non_preferred_output")
    prompt = col("prompt", "input", "question", "query", "instruction")

    # OpenAI's own preference fine-tuning format.
    if col("input") and col("preferred_output") and col("non_preferred_output"):
        inputs = _column_values(table, lower["input"])
        if _share(inputs, lambda v: isinstance(v, dict) and "messages" in v) >= 0.8:
            return shape(
                "preference",
                "openai-preference",
                {"prompt": lower["input"], "chosen": chosen, "rejected": rejected, "tools": tools},
                0.98,
                "It has OpenAI's preference fields input.messages, preferred_output and non_preferred_output.",
            )

    if chosen and rejected:
        if messages and max(openai_share, sharegpt_share) >= 0.8:
            name = "sharegpt-preference" if sharegpt_share >= openai_share else "messages-preference"
            return shape(
                "preference",
                name,
                {"prompt": messages, "chosen": chosen, "rejected": rejected, "system": system, "tools": tools},
                0.97,
                f"It has a '{messages}' conversation with '{chosen}' and '{rejected}' answers to it.",
            )
        if prompt:
            return shape(
                "preference",
                "prompt-chosen-rejected",
                {"prompt": prompt, "chosen": chosen, "rejected": rejected, "system": system},
                0.97,
                f"It has '{prompt}', '{chosen}' and '{rejected}' columns (preference pairs).",
            )
        return shape(
            "preference",
            "chosen-rejected",
            {"chosen": chosen, "rejected": rejected},
            0.85,
            f"It has '{chosen}' and '{rejected}' columns; the prompt is the part both share.",
        )

    kto_label = col(*KTO_LABELS)
    kto_ok = (
        kto_label is not None and _share(_column_values(table, kto_label), lambda v: _as_bool(v) is not None) >= 0.95
    )
    completion = col("completion", "response", "output", "answer")
    if kto_ok and kto_label:
        if messages and max(openai_share, sharegpt_share) >= 0.8:
            return shape(
                "kto",
                "messages-label" if openai_share >= sharegpt_share else "sharegpt-label",
                {"messages": messages, "label": kto_label, "system": system},
                0.93,
                f"Each '{messages}' conversation ends in an answer marked good or bad by the true/false '{kto_label}'.",
            )
        if prompt and completion:
            return shape(
                "kto",
                "prompt-completion-label",
                {"prompt": prompt, "completion": completion, "label": kto_label, "system": system},
                0.93,
                f"It has '{prompt}' and '{completion}' with a true/false '{kto_label}' (unpaired preference).",
            )

    if messages and openai_share >= 0.8:
        return shape(
            "chat-sft",
            "openai-messages+tools" if tools else "openai-messages",
            {"messages": messages, "tools": tools},
            0.99 if messages == lower.get("messages") else 0.9,
            f"Each record's '{messages}' is a list of {{role, content}} messages (OpenAI chat format).",
        )
    if messages and sharegpt_share >= 0.8:
        return shape(
            "sharegpt",
            "sharegpt+tools" if tools else "sharegpt",
            {"messages": messages, "system": system, "tools": tools},
            0.97,
            f"Each record's '{messages}' is a list of {{from, value}} turns (ShareGPT format).",
        )

    instruction, output = col("instruction"), col("output", "response")
    if instruction and output:
        return shape(
            "alpaca",
            "alpaca",
            {
                "instruction": instruction,
                "input": col("input", "context"),
                "output": output,
                "system": system,
                "history": col("history"),
            },
            0.97,
            f"It has '{instruction}' and '{output}' columns (Alpaca format).",
        )

    label_like = col("label", "labels", "class", "category", "target")
    for left, right, confidence in (
        ("prompt", "completion", 0.97),
        ("prompt", "response", 0.9),
        ("input", "output", 0.85),
        ("question", "answer", 0.75),
    ):
        if left in lower and right in lower and not label_like:
            if _share(_column_values(table, lower[left]), lambda v: isinstance(v, str | list)) >= 0.8:
                return shape(
                    "prompt-completion",
                    "prompt-completion",
                    {"prompt": lower[left], "completion": lower[right], "system": system},
                    confidence,
                    f"It has '{lower[left]}' and '{lower[right]}' columns (prompt and completion).",
                )

    media = _media_shape(table)
    if media:
        task, name, mapping, reason = media
        return shape(task, name, mapping, 0.9, reason)

    if len(table.columns) == 1:
        only = table.columns[0]
        return shape(
            "text",
            "plain-text",
            {"text": only},
            0.6,
            f"It has a single column '{only}' of text and no labels (one example per line).",
        )

    pair = _pair_shape(table, lower)
    if pair:
        return shape("text-pair-classification", "text-pair+label", pair, 0.85, _pair_reason(pair))

    regression = _regression_shape(table, lower)
    if regression:
        return shape(
            "regression",
            "text+number",
            regression,
            0.8,
            f"'{regression['label']}' holds numbers with many distinct values, a score to predict for "
            f"'{regression['text']}'.",
        )

    choice = pick_columns(table)
    return shape(
        "text-classification",
        "text+label",
        {"text": choice["text_column"], "label": choice["label_column"]},
        0.9,
        f"{choice['text_reason']} {choice['label_reason']}",
    )


def _media_shape(table: Table) -> tuple[str, str, dict[str, str | None], str] | None:
    for column in table.columns:
        values = [v for v in _column_values(table, column) if isinstance(v, str)]
        if not values:
            continue
        lowered = [v.strip().lower() for v in values]
        for task, suffixes, kind in (
            ("image-classification", IMAGE_SUFFIXES, "image"),
            ("audio-classification", AUDIO_SUFFIXES, "audio"),
        ):
            if _share(lowered, lambda v, s=suffixes: v.endswith(s)) < 0.8:  # type: ignore[misc]
                continue
            others = [c for c in table.columns if c != column]
            label = _few_values_column(table, others)
            if table.format == "folder":
                return (
                    task,
                    f"{kind}-folder-per-class",
                    {kind: column, "label": label},
                    (f"The folder has one subfolder per class holding {kind} files."),
                )
            return (
                task,
                f"{kind}-path+label",
                {kind: column, "label": label},
                (f"'{column}' holds {kind} file paths" + (f" and '{label}' their class." if label else ".")),
            )
    return None


def _few_values_column(table: Table, columns: list[str]) -> str | None:
    best = None
    for column in columns:
        values = [v for row in table.rows if (v := row.get(column))]
        distinct = len(set(values))
        if values and 2 <= distinct <= max(2, len(values) // 2):
            if best is None or distinct < best[1]:
                best = (column, distinct)
    return best[0] if best else None


def _pair_shape(table: Table, lower: dict[str, str]) -> dict[str, str] | None:
    names = list(lower)
    pairs = list(PAIR_NAMES)
    # Generic numbered or lettered pairs: text1/text2, sent_a/sent_b, ...
    for name in names:
        for a, b in (("1", "2"), ("_a", "_b"), ("_1", "_2")):
            if name.endswith(a) and name[: -len(a)] + b in lower:
                pairs.append((name, name[: -len(a)] + b))
    for left, right in pairs:
        if left in lower and right in lower:
            others = [c for c in table.columns if c not in (lower[left], lower[right])]
            label = _few_values_column(table, others)
            if label:
                return {"text": lower[left], "text_pair": lower[right], "label": label}
    return None


def _pair_reason(pair: dict[str, str]) -> str:
    return f"It has two texts, '{pair['text']}' and '{pair['text_pair']}', and a class in '{pair['label']}'."


def _regression_shape(table: Table, lower: dict[str, str]) -> dict[str, str] | None:
    for column in table.columns:
        name = column.lower().strip()
        if name in ("id", "idx", "index", "uid", "guid") or name.endswith("_id"):
            continue
        values = [row.get(column) for row in table.rows]
        present = [v for v in values if v is not None and v.strip()]
        numbers = [n for v in present if (n := _as_number(v)) is not None]
        if len(present) < 2 or len(numbers) < 0.95 * len(present):
            continue
        distinct = len(set(numbers))
        fractional = any(n != int(n) for n in numbers)
        hinted = any(name == h or name.endswith("_" + h) or name.startswith(h + "_") for h in REGRESSION_HINTS)
        if not (fractional or (hinted and distinct > 20)) or distinct < 3:
            continue
        try:
            text = pick_columns(table, label_column=column)["text_column"]
        except UserError:
            continue
        return {"text": text, "label": column}
    return None


# ------------------------------------------------------------------------------------------ messages


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _string_or_messages(value: Any, role: str) -> list[dict[str, Any]]:
    """A prompt or answer given either as text or already as a message list (or one message)."""
    if _is_messages(value):
        return [dict(m) for m in value]
    if isinstance(value, dict) and "role" in value:
        return [dict(value)]
    if isinstance(value, dict) and "from" in value:
        return _sharegpt_messages([value])
    if _is_sharegpt(value):
        return _sharegpt_messages(value)
    text = _text(value).strip()
    if not text:
        raise RecordError(f"empty {role} text")
    return [{"role": role, "content": text}]


def _tools(value: Any) -> list[dict[str, Any]] | None:
    """Tool definitions in OpenAI form; LLaMA-Factory stores bare {name, description, parameters} as a string."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
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
        parsed = json.loads(value)
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
                "function": {"name": str(call["name"]), "arguments": _text(arguments) if arguments != "" else "{}"},
            }
        )
    return result


def _sharegpt_messages(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of tool calls still waiting for their observation
    for number, turn in enumerate(turns):
        speaker = str(turn.get("from", "")).strip().lower()
        role = SHAREGPT_ROLES.get(speaker)
        if role is None:
            raise RecordError(f"unknown speaker '{_clip(speaker)}' in turn {number + 1}")
        value = turn.get("value")
        if role == "function_call":
            calls = _function_call(_text(value), number)
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            pending = [c["id"] for c in calls]
        elif role == "tool":
            # Parallel calls answered by one observation: split a JSON list of results when counts match.
            results: list[Any] = [value]
            if len(pending) > 1 and isinstance(value, str):
                try:
                    parsed = json.loads(value)
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list) and len(parsed) == len(pending):
                    results = parsed
            for offset, result in enumerate(results):
                message: dict[str, Any] = {"role": "tool", "content": _text(result)}
                if pending:
                    message["tool_call_id"] = pending[min(offset, len(pending) - 1)]
                messages.append(message)
            pending = []
        else:
            messages.append({"role": role, "content": _text(value)})
    return messages


def _with_system(messages: list[dict[str, Any]], system: Any) -> list[dict[str, Any]]:
    text = _text(system).strip()
    if text and not (messages and messages[0].get("role") == "system"):
        return [{"role": "system", "content": text}, *messages]
    return messages


def _has_answer(message: dict[str, Any]) -> bool:
    content = message.get("content")
    filled = bool(content.strip()) if isinstance(content, str) else bool(content)
    return message.get("role") == "assistant" and (filled or bool(message.get("tool_calls")))


def _clip(value: str, limit: int = 30) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------ converters


def chat_record(table: Table, index: int, info: dict[str, Any]) -> dict[str, Any]:
    """One record of an SFT-able table as an OpenAI chat record; RecordError when it cannot be one."""
    mapping, task = info["mapping"], info["task"]

    def get(role: str) -> Any:
        column = mapping.get(role)
        return record_value(table, index, column) if column else None

    tools = _tools(get("tools"))
    if task == "chat-sft":
        value = get("messages")
        if not _is_messages(value):
            raise RecordError("its messages are not a list of {role, content} objects")
        messages = [dict(m) for m in value]
    elif task == "sharegpt":
        value = get("messages")
        if not _is_sharegpt(value):
            raise RecordError("its conversation is not a list of {from, value} turns")
        messages = _with_system(_sharegpt_messages(value), get("system"))
    elif task == "alpaca":
        instruction, extra = _text(get("instruction")).strip(), _text(get("input")).strip()
        output = _text(get("output")).strip()
        if not instruction:
            raise RecordError("empty instruction")
        if not output:
            raise RecordError("empty output")
        messages = []
        for turn in get("history") or []:
            if isinstance(turn, list | tuple) and len(turn) == 2:
                messages += [
                    {"role": "user", "content": _text(turn[0])},
                    {"role": "assistant", "content": _text(turn[1])},
                ]
        user = f"{instruction}\n\n{extra}" if extra else instruction
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        messages = _with_system(messages, get("system"))
    elif task == "prompt-completion":
        prompt = _string_or_messages(get("prompt"), "user")
        completion = _string_or_messages(get("completion"), "assistant")
        messages = _with_system(prompt + completion, get("system"))
    else:
        raise RecordError(f"{task} data is not a conversation")
    if not any(_has_answer(m) for m in messages):
        raise RecordError("no assistant message with content")
    record: dict[str, Any] = {"messages": messages}
    if tools:
        record["tools"] = tools
    return record


def _split_common_prefix(
    chosen: list[dict[str, Any]], rejected: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    # The answers start at the last assistant turn of the shared part at the latest.
    while shared and chosen[shared - 1].get("role") == "assistant" and shared == min(len(chosen), len(rejected)):
        shared -= 1
    return chosen[:shared], chosen[shared:], rejected[shared:]


def preference_record(table: Table, index: int, info: dict[str, Any]) -> dict[str, Any]:
    """One preference pair in TRL's conversational form {prompt, chosen, rejected}."""
    mapping, name = info["mapping"], info["shape"]

    def get(role: str) -> Any:
        column = mapping.get(role)
        return record_value(table, index, column) if column else None

    if name == "openai-preference":
        source = get("prompt")
        if not isinstance(source, dict) or not _is_messages(source.get("messages")):
            raise RecordError("its input has no messages list")
        prompt = [dict(m) for m in source["messages"]]
        chosen = _string_or_messages(get("chosen"), "assistant")
        rejected = _string_or_messages(get("rejected"), "assistant")
    elif name == "chosen-rejected":
        both = [_string_or_messages(get(role), "assistant") for role in ("chosen", "rejected")]
        if len(both[0]) < 2 or len(both[1]) < 2:
            raise RecordError("chosen and rejected are single texts, so there is no prompt")
        prompt, chosen, rejected = _split_common_prefix(both[0], both[1])
    else:
        prompt = _string_or_messages(get("prompt"), "user")
        chosen = _string_or_messages(get("chosen"), "assistant")
        rejected = _string_or_messages(get("rejected"), "assistant")
        prompt = _with_system(prompt, get("system"))
    if not prompt:
        raise RecordError("empty prompt")
    for label, answer in (("chosen", chosen), ("rejected", rejected)):
        if not answer or not any(_has_answer(m) for m in answer):
            raise RecordError(f"empty {label} answer")
    if chosen == rejected:
        raise RecordError("chosen and rejected are the same")
    record: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    tools = _tools(get("tools") if "tools" in mapping else None)
    if tools:
        record["tools"] = tools
    return record


def kto_record(table: Table, index: int, info: dict[str, Any]) -> dict[str, Any]:
    """One KTO example {prompt, completion, label} in TRL's conversational form."""
    mapping, name = info["mapping"], info["shape"]

    def get(role: str) -> Any:
        column = mapping.get(role)
        return record_value(table, index, column) if column else None

    label = _as_bool(get("label"))
    if label is None:
        raise RecordError(f"its label '{_clip(_text(get('label')))}' is not true or false")
    if name in ("messages-label", "sharegpt-label"):
        value = get("messages")
        messages = _sharegpt_messages(value) if name == "sharegpt-label" and _is_sharegpt(value) else value
        if not _is_messages(messages):
            raise RecordError("its messages are not a list of {role, content} objects")
        messages = _with_system([dict(m) for m in messages], get("system"))
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        if last <= 0:
            raise RecordError("no assistant answer after a prompt")
        prompt, completion = messages[:last], messages[last:]
    else:
        prompt = _with_system(_string_or_messages(get("prompt"), "user"), get("system"))
        completion = _string_or_messages(get("completion"), "assistant")
    if not any(_has_answer(m) for m in completion):
        raise RecordError("empty completion")
    return {"prompt": prompt, "completion": completion, "label": label}


# ------------------------------------------------------------------------------------------ loading


def _describe(info: dict[str, Any]) -> str:
    return {
        "preference": "preference pairs (prompt, chosen, rejected)",
        "kto": "KTO examples (completions marked good or bad)",
        "text-classification": "text classification data (text and label)",
        "text-pair-classification": "text-pair classification data",
        "regression": "regression data (text and a number)",
        "image-classification": "image classification data",
        "audio-classification": "audio classification data",
        "text": "plain text without labels or answers",
    }.get(info["task"], info["task"])


CHAT_SHAPES_HINT = "OpenAI messages, prompt/completion, Alpaca (instruction/output) or ShareGPT (conversations)"


def _convert(
    table: Table,
    info: dict[str, Any],
    convert: Callable[[Table, int, dict[str, Any]], dict[str, Any]],
    skip_invalid: bool,
) -> list[dict[str, Any]]:
    records, failures = [], []
    for index in range(len(table.rows)):
        try:
            records.append(convert(table, index, info))
        except RecordError as error:
            failures.append((table.lines[index], str(error)))
    name = table.path.name
    if not skip_invalid and (failures or table.bad_lines):
        broken = sorted([line for line, _ in failures] + table.bad_lines)
        first = failures[0] if failures and (not table.bad_lines or failures[0][0] < table.bad_lines[0]) else None
        why = first[1] if first else "it is not valid JSON"
        raise UserError(
            f"'{name}' has {len(broken)} unusable record{'s' if len(broken) > 1 else ''} "
            f"(line {broken[0]}: {why}); fix {'them' if len(broken) > 1 else 'it'} or run "
            f"`tunechat prepare {name}` to drop {'them' if len(broken) > 1 else 'it'}."
        )
    if not records:
        why = f" (line {failures[0][0]}: {failures[0][1]})" if failures else ""
        raise UserError(f"'{name}' has no usable records{why}; fix the file and upload it again.")
    return records


def _table_and_shape(path: Path) -> tuple[Table, dict[str, Any]]:
    table = load_table(Path(path))
    try:
        info = detect_shape(table)
    except UserError:
        raise UserError(
            f"'{table.path.name}' is not in a shape tunechat knows (columns: {', '.join(table.columns)}); "
            f"upload {CHAT_SHAPES_HINT} records, preference pairs or labelled texts."
        ) from None
    return table, info


def load_chat_examples(path: Path, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
    """Every SFT-able record of a file as an OpenAI chat record {"messages": [...], optional "tools"}.

    Raises UserError when the file holds another kind of data, or (unless skip_invalid) when some
    records cannot be converted, naming the first line and why.
    """
    table, info = _table_and_shape(path)
    if info["task"] not in SFT_TASKS:
        raise UserError(
            f"'{table.path.name}' holds {_describe(info)}, not conversations to fine-tune on; "
            f"upload {CHAT_SHAPES_HINT} records instead."
        )
    return _convert(table, info, chat_record, skip_invalid)


def load_preference_pairs(path: Path, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
    """Preference pairs as {"prompt": [messages], "chosen": [assistant messages], "rejected": [...]}."""
    table, info = _table_and_shape(path)
    if info["task"] != "preference":
        raise UserError(
            f"'{table.path.name}' holds {_describe(info)}, not preference pairs; upload records with prompt, chosen "
            "and rejected fields (or a ShareGPT conversation with chosen and rejected answers)."
        )
    return _convert(table, info, preference_record, skip_invalid)


def load_kto_examples(path: Path, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
    """KTO examples as {"prompt": [messages], "completion": [assistant message(s)], "label": bool}."""
    table, info = _table_and_shape(path)
    if info["task"] != "kto":
        raise UserError(
            f"'{table.path.name}' holds {_describe(info)}, not KTO examples; upload records with messages (or prompt "
            "and completion) and a true/false label."
        )
    return _convert(table, info, kto_record, skip_invalid)


def iter_converted(table: Table, info: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, record or None, reason or None) for every row, in the task's target form."""
    convert = {"preference": preference_record, "kto": kto_record}.get(info["task"], chat_record)
    for index in range(len(table.rows)):
        try:
            yield table.lines[index], convert(table, index, info), None
        except RecordError as error:
            yield table.lines[index], None, str(error)
