"""Guided mode's use of the method advisor: a goal described in plain words ("build a spam detector from this
file") is answered with the task, model and method that fit and why, before any plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.types import Presenter

UPLOAD_HINT = "Upload your data (drop the file into the chat), then say **fine-tune on this**."


def advise_goal(
    call: Callable[..., dict[str, Any]], show: Presenter, state: dict[str, Any], message: str
) -> tuple[str, bool]:
    """The advisor's answer (through the `advise_method` tool) and True when a plan may follow: a file is there,
    no question is open and the data agrees. The answer's two ways, if it asks, become the reply's buttons; a kind
    the data should be read as (a score with few values read as a number) is kept for the plan."""
    file = state.get("active_file")
    advice = call("advise_method", description=message, file=file)
    text = show.advice(advice)
    if advice.get("choices"):
        state["ask_choices"] = advice["choices"]  # agent/suggestions.py shows them under this answer only
    if advice.get("use_kind") and not state.get("data_task"):
        state["data_task"] = advice["use_kind"]
    if not file:
        text += "\n\n" + UPLOAD_HINT
    return text, bool(file) and not advice.get("question") and not advice.get("data_note")
