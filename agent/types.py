"""What one assistant turn returns, whichever mode produced it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


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
    # Suggested next messages, shown as clickable options under the answer (agent/suggestions.py).
    options: list[str] = field(default_factory=list)


@dataclass
class TurnEvent:
    """Something that happened during a turn, sent while the turn is still running so the UI can show it.

    kind "step_started" (step_id, name, arguments): a tool call began; "step_finished" (step_id, step): it
    ended; "text" (text): the next piece of the answer as the model writes it.
    """

    kind: str
    step_id: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    step: ToolStep | None = None
    text: str = ""


EventSink = Callable[[TurnEvent], None]


def ignore_events(event: TurnEvent) -> None:
    """The EventSink for callers that only want the finished Reply."""


class Presenter(Protocol):
    """How a room shows tool results (ui/render is the markdown one). Guided mode and the confirmations word
    their replies through it, so what things look like is decided by the room, not by the assistant."""

    def seconds(self, seconds: float | None) -> str: ...
    def advice(self, advice: dict[str, Any]) -> str: ...
    def inspection(self, report: dict[str, Any]) -> str: ...
    def prepared(self, manifest: dict[str, Any]) -> str: ...
    def plan(self, plan: dict[str, Any]) -> str: ...
    def status(self, status: dict[str, Any]) -> str: ...
    def evaluation(self, evaluation: dict[str, Any]) -> str: ...
    def comparison(self, comparison: dict[str, Any]) -> str: ...
    def explanation(self, explanation: dict[str, Any]) -> str: ...
    def deployment(self, deployment: dict[str, Any]) -> str: ...
    def runs(self, listed: list[dict[str, Any]]) -> str: ...
    def best_run(self, found: dict[str, Any]) -> str: ...
    def diagnosis(self, diagnosis: dict[str, Any]) -> str: ...
    def relaunch_plan(self, plan: dict[str, Any]) -> str: ...
    def hosted_plan(self, plan: dict[str, Any]) -> str: ...
    def hosted_progress(self, status: dict[str, Any], since: int = 0) -> str: ...
    def dry_run(self, report: dict[str, Any]) -> str: ...
    def search_plan(self, plan: dict[str, Any]) -> str: ...
    def search(self, result: dict[str, Any]) -> str: ...
    def remedy_plan(self, plan: dict[str, Any]) -> str: ...
    def judge(self, result: dict[str, Any]) -> str: ...
    def export(self, result: dict[str, Any]) -> str: ...
