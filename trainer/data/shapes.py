"""Recognise what a table of records is for: chat, preference pairs, KTO, classification, regression, media.

The shapes people bring for fine-tuning language models differ only in column names and nesting:
OpenAI `messages`, prompt/completion, Alpaca instruction/input/output, ShareGPT `conversations`
with from/value, preference pairs and KTO's labelled completions. `detect_shape` names the kind of
data (trainer/data/kinds.py; reports call it "task") and the columns it used; trainer.data.convert
turns the records into the form the trainers take.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.data.columns import pick_columns
from trainer.data.containers import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from trainer.data.table import Table
from trainer.data.values import as_bool, as_number, is_messages, is_sharegpt, record_value

SAMPLE_RECORDS = 200  # records looked at to decide a shape; shapes are uniform, so a few suffice

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


def _column_values(table: Table, column: str, limit: int = SAMPLE_RECORDS) -> list[Any]:
    return [v for i in range(min(limit, len(table.rows))) if (v := record_value(table, i, column)) is not None]


def _share(values: list[Any], test: Callable[[Any], bool]) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


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
    openai_share = _share(messages_values, is_messages)
    sharegpt_share = _share(messages_values, is_sharegpt)
    tools = col("tools", "functions")
    system = col("system", "system_prompt")
    chosen, rejected = col("chosen", "preferred_output"), col("rejected", "non_preferred_output")
    prompt = col("prompt", "input", "question", "query", "instruction")

    # OpenAI's own preference fine-tuning format.
    if col("input") and col("preferred_output") and col("non_preferred_output"):
        inputs = _column_values(table, lower["input"])
        if _share(inputs, lambda v: isinstance(v, dict) and "messages" in v) >= 0.8:
            return shape(
                kinds.PREFERENCE,
                "openai-preference",
                {"prompt": lower["input"], "chosen": chosen, "rejected": rejected, "tools": tools},
                0.98,
                "It has OpenAI's preference fields input.messages, preferred_output and non_preferred_output.",
            )

    if chosen and rejected:
        if messages and max(openai_share, sharegpt_share) >= 0.8:
            name = "sharegpt-preference" if sharegpt_share >= openai_share else "messages-preference"
            return shape(
                kinds.PREFERENCE,
                name,
                {"prompt": messages, "chosen": chosen, "rejected": rejected, "system": system, "tools": tools},
                0.97,
                f"It has a '{messages}' conversation with '{chosen}' and '{rejected}' answers to it.",
            )
        if prompt:
            return shape(
                kinds.PREFERENCE,
                "prompt-chosen-rejected",
                {"prompt": prompt, "chosen": chosen, "rejected": rejected, "system": system},
                0.97,
                f"It has '{prompt}', '{chosen}' and '{rejected}' columns (preference pairs).",
            )
        return shape(
            kinds.PREFERENCE,
            "chosen-rejected",
            {"chosen": chosen, "rejected": rejected},
            0.85,
            f"It has '{chosen}' and '{rejected}' columns; the prompt is the part both share.",
        )

    kto_label = col(*KTO_LABELS)
    kto_ok = (
        kto_label is not None and _share(_column_values(table, kto_label), lambda v: as_bool(v) is not None) >= 0.95
    )
    completion = col("completion", "response", "output", "answer")
    if kto_ok and kto_label:
        if messages and max(openai_share, sharegpt_share) >= 0.8:
            return shape(
                kinds.KTO,
                "messages-label" if openai_share >= sharegpt_share else "sharegpt-label",
                {"messages": messages, "label": kto_label, "system": system},
                0.93,
                f"Each '{messages}' conversation ends in an answer marked good or bad by the true/false '{kto_label}'.",
            )
        if prompt and completion:
            return shape(
                kinds.KTO,
                "prompt-completion-label",
                {"prompt": prompt, "completion": completion, "label": kto_label, "system": system},
                0.93,
                f"It has '{prompt}' and '{completion}' with a true/false '{kto_label}' (unpaired preference).",
            )

    if messages and openai_share >= 0.8:
        return shape(
            kinds.CHAT_SFT,
            "openai-messages+tools" if tools else "openai-messages",
            {"messages": messages, "tools": tools},
            0.99 if messages == lower.get("messages") else 0.9,
            f"Each record's '{messages}' is a list of {{role, content}} messages (OpenAI chat format).",
        )
    if messages and sharegpt_share >= 0.8:
        return shape(
            kinds.SHAREGPT,
            f"{kinds.SHAREGPT}+tools" if tools else kinds.SHAREGPT,
            {"messages": messages, "system": system, "tools": tools},
            0.97,
            f"Each record's '{messages}' is a list of {{from, value}} turns (ShareGPT format).",
        )

    instruction, output = col("instruction"), col("output", "response")
    if instruction and output:
        return shape(
            kinds.ALPACA,
            kinds.ALPACA,  # the shape is named after its kind
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
                    kinds.PROMPT_COMPLETION,
                    kinds.PROMPT_COMPLETION,  # the shape is named after its kind
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
            kinds.TEXT,
            "plain-text",
            {"text": only},
            0.6,
            f"It has a single column '{only}' of text and no labels (one example per line).",
        )

    pair = _pair_shape(table, lower)
    if pair:
        return shape(kinds.TEXT_PAIR_CLASSIFICATION, "text-pair+label", pair, 0.85, _pair_reason(pair))

    regression = _regression_shape(table, lower)
    if regression:
        return shape(
            kinds.REGRESSION,
            "text-pair+number" if regression.get("text_pair") else "text+number",
            regression,
            0.8,
            f"'{regression['label']}' holds numbers with many distinct values, a score to predict for "
            f"'{regression['text']}'"
            + (f" and '{regression['text_pair']}' together." if regression.get("text_pair") else "."),
        )

    choice = pick_columns(table)
    found = shape(
        kinds.TEXT_CLASSIFICATION,
        "text+label",
        {"text": choice["text_column"], "label": choice["label_column"]},
        0.9,
        f"{choice['text_reason']} {choice['label_reason']}",
    )
    # Why each column was chosen, for the report (naming the columns again would only say "was named").
    return {**found, "text_reason": choice["text_reason"], "label_reason": choice["label_reason"]}


def _media_shape(table: Table) -> tuple[str, str, dict[str, str | None], str] | None:
    for column in table.columns:
        values = [v for v in _column_values(table, column) if isinstance(v, str)]
        if not values:
            continue
        lowered = [v.strip().lower() for v in values]
        for task, suffixes, kind in (
            (kinds.IMAGE_CLASSIFICATION, IMAGE_SUFFIXES, "image"),
            (kinds.AUDIO_CLASSIFICATION, AUDIO_SUFFIXES, "audio"),
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


def _text_pairs(lower: dict[str, str]) -> list[tuple[str, str]]:
    """Column names (lowercased) that look like the two texts of a pair, the known pairs first."""
    pairs = list(PAIR_NAMES)
    # Generic numbered or lettered pairs: text1/text2, sent_a/sent_b, ...
    for name in lower:
        for a, b in (("1", "2"), ("_a", "_b"), ("_1", "_2")):
            if name.endswith(a) and name[: -len(a)] + b in lower:
                pairs.append((name, name[: -len(a)] + b))
    return [(left, right) for left, right in pairs if left in lower and right in lower]


def _pair_shape(table: Table, lower: dict[str, str]) -> dict[str, str] | None:
    for left, right in _text_pairs(lower):
        # A column of fractional numbers (a similarity score) is a number to predict, not a class.
        others = [c for c in table.columns if c not in (lower[left], lower[right]) and not _fractional(table, c)]
        label = _few_values_column(table, others)
        if label:
            return {"text": lower[left], "text_pair": lower[right], "label": label}
    return None


def _fractional(table: Table, column: str) -> bool:
    """True when the column's values are numbers and some have a fraction (3.8, 0.25)."""
    present = [v for row in table.rows if (v := (row.get(column) or "").strip())]
    numbers = [n for v in present if (n := as_number(v)) is not None]
    return bool(present) and len(numbers) >= 0.95 * len(present) and any(n != int(n) for n in numbers)


def _pair_reason(pair: dict[str, str]) -> str:
    return f"It has two texts, '{pair['text']}' and '{pair['text_pair']}', and a class in '{pair['label']}'."


def _regression_shape(table: Table, lower: dict[str, str]) -> dict[str, str] | None:
    for column in table.columns:
        name = column.lower().strip()
        if name in ("id", "idx", "index", "uid", "guid") or name.endswith("_id"):
            continue
        values = [row.get(column) for row in table.rows]
        present = [v for v in values if v is not None and v.strip()]
        numbers = [n for v in present if (n := as_number(v)) is not None]
        if len(present) < 2 or len(numbers) < 0.95 * len(present):
            continue
        distinct = len(set(numbers))
        fractional = any(n != int(n) for n in numbers)
        hinted = any(name == h or name.endswith("_" + h) or name.startswith(h + "_") for h in REGRESSION_HINTS)
        if not (fractional or (hinted and distinct > 20)) or distinct < 3:
            continue
        # Two texts and a number (a similarity score, say): the number is predicted from both.
        pair = next(((lower[a], lower[b]) for a, b in _text_pairs(lower) if column not in (lower[a], lower[b])), None)
        if pair:
            return {"text": pair[0], "text_pair": pair[1], "label": column}
        try:
            text = pick_columns(table, label_column=column)["text_column"]
        except UserError:
            continue
        return {"text": text, "label": column}
    return None
