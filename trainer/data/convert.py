"""Convert the records of a recognised shape into the one form each trainer takes.

OpenAI chat records ({"messages": [...], optional "tools"}) for SFT, and TRL's conversational form
for DPO ({prompt, chosen, rejected}) and KTO ({prompt, completion, label}). The load_* functions read
a file, check its shape and convert every record, naming the first line that cannot be converted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.messages import (
    RecordError,
    as_text,
    clip,
    has_answer,
    sharegpt_messages,
    string_or_messages,
    tool_definitions,
    with_system,
)
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape
from trainer.data.table import Table
from trainer.data.values import as_bool, is_messages, is_sharegpt, record_value


def chat_record(table: Table, index: int, info: dict[str, Any]) -> dict[str, Any]:
    """One record of an SFT-able table as an OpenAI chat record; RecordError when it cannot be one."""
    mapping, task = info["mapping"], info["task"]

    def get(role: str) -> Any:
        column = mapping.get(role)
        return record_value(table, index, column) if column else None

    tools = tool_definitions(get("tools"))
    if task == kinds.CHAT_SFT:
        value = get("messages")
        if not is_messages(value):
            raise RecordError("its messages are not a list of {role, content} objects")
        messages = [dict(m) for m in value]
    elif task == kinds.SHAREGPT:
        value = get("messages")
        if not is_sharegpt(value):
            raise RecordError("its conversation is not a list of {from, value} turns")
        messages = with_system(sharegpt_messages(value), get("system"))
    elif task == kinds.ALPACA:
        instruction, extra = as_text(get("instruction")).strip(), as_text(get("input")).strip()
        output = as_text(get("output")).strip()
        if not instruction:
            raise RecordError("empty instruction")
        if not output:
            raise RecordError("empty output")
        messages = []
        history = get("history")
        for turn in history if isinstance(history, list) else []:
            if isinstance(turn, list | tuple) and len(turn) == 2:
                messages += [
                    {"role": "user", "content": as_text(turn[0])},
                    {"role": "assistant", "content": as_text(turn[1])},
                ]
        user = f"{instruction}\n\n{extra}" if extra else instruction
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        messages = with_system(messages, get("system"))
    elif task == kinds.PROMPT_COMPLETION:
        prompt = string_or_messages(get("prompt"), "user")
        completion = string_or_messages(get("completion"), "assistant")
        messages = with_system(prompt + completion, get("system"))
    else:
        raise RecordError(f"{task} data is not a conversation")
    if not any(has_answer(m) for m in messages):
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
        if not isinstance(source, dict) or not is_messages(source.get("messages")):
            raise RecordError("its input has no messages list")
        prompt = [dict(m) for m in source["messages"]]
        chosen = string_or_messages(get("chosen"), "assistant")
        rejected = string_or_messages(get("rejected"), "assistant")
    elif name == "chosen-rejected":
        both = [string_or_messages(get(role), "assistant") for role in ("chosen", "rejected")]
        if len(both[0]) < 2 or len(both[1]) < 2:
            raise RecordError("chosen and rejected are single texts, so there is no prompt")
        prompt, chosen, rejected = _split_common_prefix(both[0], both[1])
    else:
        prompt = string_or_messages(get("prompt"), "user")
        chosen = string_or_messages(get("chosen"), "assistant")
        rejected = string_or_messages(get("rejected"), "assistant")
        prompt = with_system(prompt, get("system"))
    if not prompt:
        raise RecordError("empty prompt")
    for label, answer in (("chosen", chosen), ("rejected", rejected)):
        if not answer or not any(has_answer(m) for m in answer):
            raise RecordError(f"empty {label} answer")
    if chosen == rejected:
        raise RecordError("chosen and rejected are the same")
    record: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    tools = tool_definitions(get("tools") if "tools" in mapping else None)
    if tools:
        record["tools"] = tools
    return record


def kto_record(table: Table, index: int, info: dict[str, Any]) -> dict[str, Any]:
    """One KTO example {prompt, completion, label} in TRL's conversational form."""
    mapping, name = info["mapping"], info["shape"]

    def get(role: str) -> Any:
        column = mapping.get(role)
        return record_value(table, index, column) if column else None

    label = as_bool(get("label"))
    if label is None:
        raise RecordError(f"its label '{clip(as_text(get('label')))}' is not true or false")
    if name in ("messages-label", "sharegpt-label"):
        value = get("messages")
        messages = sharegpt_messages(value) if name == "sharegpt-label" and is_sharegpt(value) else value
        if not is_messages(messages):
            raise RecordError("its messages are not a list of {role, content} objects")
        messages = with_system([dict(m) for m in messages], get("system"))
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        if last <= 0:
            raise RecordError("no assistant answer after a prompt")
        prompt, completion = messages[:last], messages[last:]
    else:
        prompt = with_system(string_or_messages(get("prompt"), "user"), get("system"))
        completion = string_or_messages(get("completion"), "assistant")
    if not any(has_answer(m) for m in completion):
        raise RecordError("empty completion")
    return {"prompt": prompt, "completion": completion, "label": label}


# ------------------------------------------------------------------------------------------ loading


def _holds(table: Table, info: dict[str, Any]) -> str:
    return f"'{table.path.name}' holds {kinds.description(info['task'])}"


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
    if info["task"] not in kinds.CONVERSATIONS:
        raise UserError(
            f"{_holds(table, info)}, not conversations to fine-tune on; upload {CHAT_SHAPES_HINT} records instead."
        )
    return _convert(table, info, chat_record, skip_invalid)


def load_preference_pairs(path: Path, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
    """Preference pairs as {"prompt": [messages], "chosen": [assistant messages], "rejected": [...]}."""
    table, info = _table_and_shape(path)
    if info["task"] != kinds.PREFERENCE:
        raise UserError(
            f"{_holds(table, info)}, not preference pairs; upload records with prompt, chosen "
            "and rejected fields (or a ShareGPT conversation with chosen and rejected answers)."
        )
    return _convert(table, info, preference_record, skip_invalid)


def load_kto_examples(path: Path, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
    """KTO examples as {"prompt": [messages], "completion": [assistant message(s)], "label": bool}."""
    table, info = _table_and_shape(path)
    if info["task"] != kinds.KTO:
        raise UserError(
            f"{_holds(table, info)}, not KTO examples; upload records with messages (or prompt "
            "and completion) and a true/false label."
        )
    return _convert(table, info, kto_record, skip_invalid)


def converter(info: dict[str, Any]) -> Callable[[Table, int, dict[str, Any]], dict[str, Any]]:
    """The function that converts one record of a table of this shape (chat, preference pair or KTO)."""
    return {kinds.PREFERENCE: preference_record, kinds.KTO: kto_record}.get(info["task"], chat_record)


def iter_converted(table: Table, info: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, record or None, reason or None) for every row, in the task's target form."""
    convert = converter(info)
    for index in range(len(table.rows)):
        try:
            yield table.lines[index], convert(table, index, info), None
        except RecordError as error:
            yield table.lines[index], None, str(error)
