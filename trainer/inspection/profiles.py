"""Inspection reports for data that is not single-text classification: conversations (SFT), preference
pairs, KTO, regression, media classification and unlabelled text.

Each report carries the keys every report has (file, format, rows, usable_rows, columns, task, shape,
mapping, confidence, problems, samples, notes, length_tokens) and what the task adds. Problems keep
the inspection's form {code, count, rows, message}; rows are file lines.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.read import Table
from trainer.data.shapes import iter_converted, record_value
from trainer.inspection.rules import CHAT_CODES, chat_example_errors, chat_problem_message, find_pii

PROBLEM_LINES = 5
SAMPLES = 3
SAMPLE_CHARS = 300
TOKEN_SAMPLE = 2000


def lines_text(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:PROBLEM_LINES])
    more = ", …" if len(lines) > PROBLEM_LINES else ""
    return f"line {shown}" if len(lines) == 1 else f"lines {shown}{more}"


def problem(code: str, lines: list[int], message: str, count: int | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "count": len(lines) if count is None else count,
        "rows": lines[:PROBLEM_LINES],
        "message": message,
    }


def stats(values: list[int] | list[float]) -> dict[str, Any]:
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> Any:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.5), "p95": rank(0.95), "max": ordered[-1], "mean": round(sum(ordered) / len(ordered), 1)}


def short(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


# ------------------------------------------------------------------------------------------ shared problems


def pii_problem(texts: list[tuple[int, str]]) -> dict[str, Any] | None:
    """Likely personal data (emails, phone numbers, card numbers passing Luhn) in (line, text) pairs."""
    kinds: Counter[str] = Counter()
    lines: list[int] = []
    for line, text in texts:
        found = find_pii(text)
        if found:
            kinds.update(found)
            if not lines or lines[-1] != line:
                lines.append(line)
    if not lines:
        return None
    listed = ", ".join(f"{'card numbers' if k == 'card' else k + 's'} ({n})" for k, n in sorted(kinds.items()))
    return problem(
        "personal_data",
        lines,
        f"{len(lines)} row{'s contain' if len(lines) > 1 else ' contains'} likely personal data: {listed} "
        f"({lines_text(lines)}); remove or mask it before training or sending the data to a provider.",
    )


def overlap_problem(table: Table, key: Callable[[Table, int], str | None]) -> dict[str, Any] | None:
    """Examples that appear in the training data and in a validation or test file the user brought."""
    if not table.splits:
        return None
    train = {k for i in range(len(table.rows)) if (k := key(table, i))}
    lines: list[int] = []
    where: Counter[str] = Counter()
    for name, split in table.splits.items():
        for i in range(len(split.rows)):
            k = key(split, i)
            if k and k in train:
                lines.append(split.lines[i])
                where[name] += 1
    if not lines:
        return None
    listed = " and ".join(f"{n} in {name}" for name, n in where.items())
    return problem(
        "split_overlap",
        lines,
        f"{len(lines)} example{'s' if len(lines) > 1 else ''} of the training data also appear in the held-out "
        f"files ({listed}, {lines_text(lines)} there); remove them from one side so the scores are honest.",
    )


# ------------------------------------------------------------------------------------------ conversations


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
    count_tokens: Callable[[list[str]], list[int]] | None,
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
    if task == "chat-sft":
        by_code: dict[str, list[int]] = {"data_type": list(table.non_object_lines)} if table.non_object_lines else {}
        column = info["mapping"]["messages"]
        for index, line in enumerate(table.lines):
            value = record_value(table, index, column)
            raw = {**(table.records[index] if table.records else {}), "messages": value}
            for code in chat_example_errors(raw):
                by_code.setdefault(code, []).append(line)
        for lines in by_code.values():
            lines.sort()
        for code in CHAT_CODES:
            if code in by_code:
                lines = by_code[code]
                problems.append(problem(code, lines, chat_problem_message(code, len(lines), lines)))
    for reason, lines in unusable.items():
        if task == "chat-sft" and reason in ("no assistant message with content",):
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

    tokens = token_stats(texts, count_tokens, token_model, max_length)
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
    if task == "kto":
        labels = Counter("desirable" if r["label"] else "undesirable" for _, r in converted)
        report["labels"] = [{"label": k, "count": v, "share": round(v / len(converted), 4)} for k, v in labels.items()]
    if not converted:
        notes.append("No record could be converted; see the problems for why.")
    return report


def _converted_key(table: Table, index: int, info: dict[str, Any]) -> str | None:
    from trainer.data.shapes import RecordError, chat_record, kto_record, preference_record

    convert = {"preference": preference_record, "kto": kto_record}.get(info["task"], chat_record)
    try:
        record = convert(table, index, info)
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


def token_stats(
    texts: list[tuple[int, str]],
    count_tokens: Callable[[list[str]], list[int]] | None,
    model: str,
    max_length: int,
) -> dict[str, Any] | None:
    """Token percentiles, examples over max_length and tokens per epoch (sampled above TOKEN_SAMPLE)."""
    if count_tokens is None or not texts:
        return None
    sampled = len(texts) > TOKEN_SAMPLE
    sample = random.Random(0).sample(texts, TOKEN_SAMPLE) if sampled else texts
    lengths = count_tokens([t for _, t in sample])
    result: dict[str, Any] = stats(lengths)
    long_lines = sorted(line for (line, _), n in zip(sample, lengths, strict=True) if n > max_length)
    over = len(long_lines)
    if sampled:
        over = round(over / len(sample) * len(texts))
    result[f"truncated_at_{max_length}"] = over
    result["tokens_per_epoch"] = round(sum(lengths) / len(lengths) * len(texts))
    result.update({"sample_size": len(sample), "estimated": sampled, "model": model, "long_lines": long_lines})
    return result


# ------------------------------------------------------------------------------------------ other tasks


def regression_report(
    table: Table,
    text_column: str,
    label_column: str,
    count_tokens: Callable[[list[str]], list[int]] | None,
    token_model: str,
    max_length: int,
) -> dict[str, Any]:
    from trainer.data.shapes import _as_number

    values: list[float] = []
    texts: list[tuple[int, str]] = []
    empty, not_numbers = [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        text, raw = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        if not text or not raw:
            empty.append(line)
            continue
        number = _as_number(raw)
        if number is None or math.isinf(number):
            not_numbers.append(line)
            continue
        values.append(number)
        texts.append((line, text))
    if not values:
        raise UserError(
            f"'{table.path.name}' has no row with a number in '{label_column}' to predict; name the column of "
            "numbers with --label-column, or choose another task."
        )
    problems = []
    if empty:
        problems.append(
            problem(
                "empty_rows",
                empty,
                f"{len(empty)} row{'s have' if len(empty) > 1 else ' has'} an empty text or value "
                f"({lines_text(empty)}) and will be left out; fill them in or delete them.",
            )
        )
    if not_numbers:
        problems.append(
            problem(
                "non_numeric_labels",
                not_numbers,
                f"{len(not_numbers)} row{'s have' if len(not_numbers) > 1 else ' has'} a '{label_column}' that is "
                f"not a number (or is NaN) ({lines_text(not_numbers)}); fix or delete them.",
            )
        )
    seen: set[str] = set()
    duplicates = []
    for line, text in texts:
        if text in seen:
            duplicates.append(line)
        seen.add(text)
    if duplicates:
        problems.append(
            problem(
                "duplicates",
                duplicates,
                f"{len(duplicates)} row{'s repeat' if len(duplicates) > 1 else ' repeats'} the text of an earlier row "
                f"({lines_text(duplicates)}); remove the copies.",
            )
        )
    found = pii_problem(texts)
    if found:
        problems.append(found)
    tokens = token_stats(texts, count_tokens, token_model, max_length)
    if tokens:
        tokens.pop("long_lines", None)
    mean = sum(values) / len(values) if values else 0.0
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else 0.0
    return {
        "usable_rows": len(values),
        "text_column": text_column,
        "label_column": label_column,
        "target": {
            "min": min(values, default=None),
            "max": max(values, default=None),
            "mean": round(mean, 4),
            "std": round(spread, 4),
            "distinct": len(set(values)),
        },
        "length_chars": stats([len(t) for _, t in texts]),
        "length_tokens": tokens,
        "duplicates": {"count": len(duplicates), "rows": duplicates[:10]},
        "empty_rows": {"count": len(empty), "rows": empty[:10]},
        "samples": [
            {"text": short(t), "label": v, "line": line} for (line, t), v in list(zip(texts, values, strict=True))[:3]
        ],
        "problems": problems,
    }


def media_report(path: Path, table: Table, info: dict[str, Any]) -> dict[str, Any]:
    kind = "image" if info["task"] == "image-classification" else "audio"
    column, label = info["mapping"].get(kind), info["mapping"].get("label")
    counts: Counter[str] = Counter()
    missing = []
    folder = path if path.is_dir() else path.parent
    for row, line in zip(table.rows, table.lines, strict=True):
        if label and row.get(label):
            counts[str(row[label])] += 1
        file = str(row.get(column) or "")
        if table.format not in ("folder",) and file and not (folder / file).exists() and not Path(file).exists():
            missing.append(line)
    problems = []
    if missing:
        problems.append(
            problem(
                "missing_files",
                missing,
                f"{len(missing)} {kind} file{'s' if len(missing) > 1 else ''} named in '{column}' "
                f"{'are' if len(missing) > 1 else 'is'} not next to the data file ({lines_text(missing)}); upload them "
                f"together in one zip archive.",
            )
        )
    total = sum(counts.values())
    return {
        "usable_rows": total,
        "label_column": label,
        f"{kind}_column": column,
        "labels": [{"label": k, "count": v, "share": round(v / total, 4)} for k, v in counts.most_common()]
        if total
        else [],
        "num_classes": len(counts),
        "samples": [{**row, "line": line} for row, line in list(zip(table.rows, table.lines, strict=True))[:3]],
        "problems": problems,
    }


def text_report(table: Table, column: str) -> dict[str, Any]:
    texts = [(line, (row.get(column) or "").strip()) for row, line in zip(table.rows, table.lines, strict=True)]
    texts = [(line, t) for line, t in texts if t]
    problems = []
    seen: set[str] = set()
    duplicates = []
    for line, text in texts:
        if text in seen:
            duplicates.append(line)
        seen.add(text)
    if duplicates:
        problems.append(
            problem(
                "duplicates",
                duplicates,
                f"{len(duplicates)} line{'s repeat' if len(duplicates) > 1 else ' repeats'} an earlier line "
                f"({lines_text(duplicates)}); drop them with `tunechat prepare --dedupe`.",
            )
        )
    found = pii_problem(texts)
    if found:
        problems.append(found)
    return {
        "usable_rows": len(texts),
        "text_column": column,
        "length_chars": stats([len(t) for _, t in texts]),
        "duplicates": {"count": len(duplicates), "rows": duplicates[:10]},
        "samples": [{"text": short(t), "line": line} for line, t in texts[:3]],
        "problems": problems,
    }
