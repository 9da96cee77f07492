"""Inspection of a chat JSONL file too large to load: the streaming checker's counts plus sampled statistics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainer.data import kinds
from trainer.data.json_text import loads
from trainer.inspection.chat_report import example_text
from trainer.inspection.problems import problem, short
from trainer.inspection.stream import check_chat_jsonl
from trainer.inspection.tokens import counter_or_note, token_stats
from trainer.plan.config import BUNDLED_MODEL

STREAM_ABOVE = 32_000_000  # bytes; larger chat JSONL files are checked without loading them


def streamable_chat(path: Path) -> bool:
    """A large JSONL file whose first record is an OpenAI chat example: checked by streaming."""
    if not path.is_file() or path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        return False
    if path.stat().st_size <= int(os.environ.get("TUNECHAT_STREAM_ABOVE", STREAM_ABOVE)):
        return False
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                try:
                    first = loads(raw)
                except ValueError:
                    return False
                return isinstance(first, dict) and isinstance(first.get("messages"), list)
    return False


def stream_report(path: Path, model: str | None, max_length: int) -> dict[str, Any]:
    """The inspection report of a large chat JSONL file, from the streaming checker."""
    checked = check_chat_jsonl(path, keep_sample=True)
    samples = checked.pop("sample_lines")
    notes = [
        f"Checked all {checked['rows']:,} lines by streaming in {checked['elapsed_s']:.1f} s; personal data, token "
        f"lengths and roles come from {len(samples):,} lines spread evenly over the file."
    ]
    token_model = model or BUNDLED_MODEL
    counter = counter_or_note(token_model, notes)
    texts = []
    for line, raw in samples:
        try:
            texts.append((line, example_text(loads(raw))))
        except (ValueError, AttributeError, TypeError):
            continue
    tokens = token_stats(texts, counter, token_model, max_length, notes)
    problems = list(checked["problems"])
    if tokens:
        long_lines = tokens.pop("long_lines", [])
        share = tokens[f"truncated_at_{max_length}"] / max(1, len(texts))
        tokens[f"truncated_at_{max_length}"] = round(share * checked["valid_rows"])
        tokens["tokens_per_epoch"] = round(tokens["mean"] * checked["valid_rows"])
        tokens["estimated"] = True
        if long_lines:
            over = tokens[f"truncated_at_{max_length}"]
            problems.append(
                problem(
                    "too_long",
                    long_lines,
                    f"About {over:,} examples are longer than {max_length} tokens and would be cut off; raise "
                    "max_length or shorten them.",
                    count=over,
                )
            )
    return {
        "file": path.name,
        "format": "jsonl",
        "encoding": "utf-8",
        "rows": checked["rows"],
        "usable_rows": checked["valid_rows"],
        "columns": ["messages"],
        "task": kinds.CHAT_SFT,
        "shape": "openai-messages",
        "mapping": {"messages": "messages"},
        "confidence": 0.95,
        "task_reason": "Its lines are {messages: [...]} records (OpenAI chat format).",
        "problems": problems,
        "errors": checked["errors"],
        "duplicates": checked["duplicates"],
        "bad_lines": {"count": checked["errors"].get("invalid_json", 0), "rows": []},
        "length_bytes": checked["length_bytes"],
        "length_tokens": tokens,
        "messages_per_example": checked["messages_per_example"],
        "roles": checked["roles"],
        "samples": [{"line": line, "text": short(raw)} for line, raw in samples[:3]],
        "notes": notes,
        "streamed": True,
        "elapsed_s": checked["elapsed_s"],
    }
