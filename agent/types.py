"""What one assistant turn returns, whichever mode produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolStep:
    """One tool call made during a turn, shown in the UI as a collapsible step."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    summary: str
    duration_s: float
    result: dict[str, Any] | None = None


@dataclass
class Reply:
    """The assistant's answer: markdown text, PNG files to show, and the tool steps behind it."""

    text: str
    images: list[str] = field(default_factory=list)
    steps: list[ToolStep] = field(default_factory=list)
