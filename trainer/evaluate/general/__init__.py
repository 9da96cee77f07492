"""The general data shipped with tunechat (README.md here: what each file is, where it comes from, its licence).

Read as package data, so an installed tunechat finds it without the source tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Question:
    """A general question and the answers that count as right (a reply containing any of them, ignoring case)."""

    question: str
    answers: tuple[str, ...]


def _read(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@cache
def general_texts() -> tuple[str, ...]:
    """Short encyclopedic paragraphs of plain English: what perplexity is measured on."""
    return tuple(_read("texts.json")["texts"])


@cache
def general_questions() -> tuple[Question, ...]:
    """General questions with short expected answers."""
    return tuple(Question(q["question"], tuple(q["answers"])) for q in _read("questions.json")["questions"])


@cache
def general_chat_prompts() -> tuple[str, ...]:
    """General chat requests (not the questions): what replay asks the base model to answer."""
    return tuple(_read("chat_prompts.json")["prompts"])
