"""The inspection report of conversations (SFT), preference pairs and KTO examples.

Records are converted the way training converts them (trainer.data.convert); records already in
OpenAI's chat format are also checked against its rules (trainer.inspection.rules), so what this
report lists is what the OpenAI plan would refuse.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from trainer.data import kinds
from trainer.data.convert import converter, iter_converted
from trainer.data.messages import RecordError
from trainer.data.placeholders import count_placeholders
from trainer.data.table import Table
from trainer.data.values import record_value
from trainer.inspection.problems import (
    SAMPLES,
    lines_text,
    overlap_problem,
    pii_problem,
    problem,
    short,
    stats,
)
from trainer.inspection.rules import CODES, chat_example_errors, chat_problem_message
from trainer.inspection.tokens import TokenCounter, token_stats


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = content if isinstance(content, str) else ""
    if message.get("tool_calls"):
        text += " " + json.dumps(message["tool_calls"], ensure_ascii=False)
    return text


def example_text(record: dict[str, Any]) -> str:
    """All the text of a converted example, as the tokenizer would roughly see it."""
    parts = []
    for key in ("messages", "prompt", "chosen", "rejected", "completion"):
        for message in record.get(key) or []:
            if isinstance(message, dict):
                parts.append(f"{message.get('role', '')}: {_message_text(message)}")
    return "\n".join(parts)


def llm_report(
    table: Table,
    info: dict[str, Any],
    count_tokens: TokenCounter | None,
    token_model: str,
    max_length: int,
    notes: list[str],
) -> dict[str, Any]:
    """Conversations, preference pairs or KTO examples: converted, checked against OpenAI's rules."""
    task = info["task"]
    converted: list[tuple[int, dict[str, Any]]] = []
    unusable: dict[str, list[int]] = {}
    for line, record, reason in iter_converted(table, info):
        if record is None:
            unusable.setdefault(str(reason), []).append(line)
        else:
            converted.append((line, record))

    problems: list[dict[str, Any]] = []
    unparsed = [line for line in table.bad_lines if line not in set(table.non_object_lines)]
    if unparsed:
        n = len(unparsed)
        problems.append(
            problem(
                "invalid_json",
                unparsed,
                f"{n} line{'s are' if n > 1 else ' is'} not valid JSON ({lines_text(unparsed)}) and "
                f"{'were' if n > 1 else 'was'} skipped; fix the quoting there, or drop {'them' if n > 1 else 'it'} "
                "with `tunechat prepare`.",
            )
        )
    # OpenAI's format rules: on the records as they are when they are already in chat format.
    if task == kinds.CHAT_SFT:
        by_code: dict[str, list[int]] = {"data_type": list(table.non_object_lines)} if table.non_object_lines else {}
        column = info["mapping"]["messages"]
        for index, line in enumerate(table.lines):
            value = record_value(table, index, column)
            raw = {**(table.records[index] if table.records else {}), "messages": value}
            for code in chat_example_errors(raw):
                by_code.setdefault(code, []).append(line)
        for lines in by_code.values():
            lines.sort()
        for code in CODES:
            if code in by_code:
                lines = by_code[code]
                problems.append(problem(code, lines, chat_problem_message(code, len(lines), lines)))
    for reason, lines in unusable.items():
        if task == kinds.CHAT_SFT and reason in ("no assistant message with content",):
            continue  # already reported with OpenAI's code
        problems.append(
            problem(
                "unusable_record",
                lines,
                f"{len(lines)} record{'s' if len(lines) > 1 else ''} cannot be used ({reason}; {lines_text(lines)}); "
                "fix them, or drop them with `tunechat prepare`.",
            )
        )

    seen: dict[str, int] = {}
    duplicates: list[int] = []
    for line, record in converted:
        key = json.dumps(record, sort_keys=True, ensure_ascii=False)
        if key in seen:
            duplicates.append(line)
        else:
            seen[key] = line
    if duplicates:
        n = len(duplicates)
        problems.append(
            problem(
                "duplicates",
                duplicates,
                f"{n} example{'s repeat' if n > 1 else ' repeats'} an earlier one exactly ({lines_text(duplicates)}); "
                "drop the copies with `tunechat prepare --dedupe` so the model does not overweight them.",
            )
        )
    texts = [(line, example_text(record)) for line, record in converted]
    found = pii_problem(texts)
    if found:
        problems.append(found)
    overlap = overlap_problem(table, lambda t, i: _converted_key(t, i, info))
    if overlap:
        problems.append(overlap)

    tokens = token_stats(texts, count_tokens, token_model, max_length, notes)
    if tokens and tokens.get(f"truncated_at_{max_length}"):
        over = tokens[f"truncated_at_{max_length}"]
        problems.append(
            problem(
                "too_long",
                tokens.pop("long_lines", []),
                f"About {over} example{'s are' if over != 1 else ' is'} longer than {max_length} tokens and would be "
                "cut off; raise max_length or shorten them.",
                count=over,
            )
        )
    elif tokens:
        tokens.pop("long_lines", None)

    per_example = [len(r.get("messages") or r.get("prompt") or []) for _, r in converted]
    roles: Counter[str] = Counter()
    for _, record in converted:
        for key in ("messages", "prompt", "chosen", "rejected", "completion"):
            roles.update(str(m.get("role")) for m in record.get(key) or [] if isinstance(m, dict))
    report: dict[str, Any] = {
        "usable_rows": len(converted),
        "messages_per_example": stats(per_example),
        "roles": dict(roles.most_common()),
        "length_chars": stats([len(t) for _, t in texts]),
        "length_tokens": tokens,
        "duplicates": {"count": len(duplicates), "rows": duplicates[:10]},
        "bad_lines": {"count": len(table.bad_lines), "rows": table.bad_lines[:10]},
        "samples": [{"line": line, **_short_record(record)} for line, record in converted[:SAMPLES]],
        "problems": problems,
        "tools": sum(1 for _, r in converted if r.get("tools")),
    }
    placeholders = count_placeholders(record for _, record in converted)
    if placeholders:  # e.g. identity.json's {{name}} and {{author}}: the plan asks for their values
        report["placeholders"] = placeholders
    if task == kinds.KTO:
        labels = Counter("desirable" if r["label"] else "undesirable" for _, r in converted)
        report["labels"] = [{"label": k, "count": v, "share": round(v / len(converted), 4)} for k, v in labels.items()]
    if not converted:
        notes.append("No record could be converted; see the problems for why.")
    return report


def _converted_key(table: Table, index: int, info: dict[str, Any]) -> str | None:
    try:
        record = converter(info)(table, index, info)
    except (RecordError, KeyError):
        return None
    # The prompt side identifies an example: the same question in train and test is the leak to catch.
    side = record.get("prompt") or [m for m in record.get("messages", []) if m.get("role") != "assistant"]
    return json.dumps(side, sort_keys=True, ensure_ascii=False)


def _short_record(record: dict[str, Any]) -> dict[str, Any]:
    def shorten(messages: Any) -> Any:
        if not isinstance(messages, list):
            return messages
        return [{**m, "content": short(m["content"])} if isinstance(m.get("content"), str) else m for m in messages]

    return {k: shorten(v) if k != "tools" else f"{len(v)} tool definitions" for k, v in record.items()}
