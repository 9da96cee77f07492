"""Labelled texts as chat examples, and a chat model's answer back as a label.

One wording for every place that turns a classification table into chats: `tunechat prepare --to
chat-jsonl`, the OpenAI plan that fine-tunes a chat model as a classifier, and the evaluation that
asks that model for each test example (it sends the same system and user turns and reads the answer
with label_from_answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def system_prompt(labels: Sequence[str]) -> str:
    """The instruction that lists the classes; the answer is expected to be exactly one of them."""
    return "Classify the text. Answer with exactly one of: " + ", ".join(labels) + "."


def chat_example(text: str, label: str | None, system: str, text_pair: str | None = None) -> dict[str, Any]:
    """{"messages": [system, user, assistant]} for a labelled text; without a label, only the question.

    `system` is system_prompt(labels), made once per file; a second text (text-pair classification)
    follows the first after a blank line.
    """
    user = text if text_pair is None else f"{text}\n\n{text_pair}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if label is not None:
        messages.append({"role": "assistant", "content": label})
    return {"messages": messages}


def label_from_answer(answer: str, labels: Sequence[str]) -> str:
    """The label an answer names: exact (ignoring case and punctuation at the ends), else the first named.

    An answer naming no label comes back as itself (cut to 40 characters) so it counts as wrong.
    """
    cleaned = answer.strip().strip(".!\"'`").strip().lower()
    for label in labels:
        if cleaned == label.lower():
            return label
    for label in sorted(labels, key=len, reverse=True):
        if label.lower() in cleaned:
            return label
    return answer.strip()[:40] or "(empty)"
