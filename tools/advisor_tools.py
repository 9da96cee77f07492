"""The method advisor as a tool: which task, model family and method suit a described goal, and why."""

from __future__ import annotations

from tools.context import ToolContext
from tools.session_files import resolve_file
from trainer.plan.advisor import Advice, advise


def advise_method(ctx: ToolContext, description: str, file: str | None = None) -> Advice:
    """Pick the task (text classification, text-pair classification, regression, chat SFT, DPO, KTO, image or
    audio classification), the model family and the training method for a goal described in plain words, and
    say why; when two fit equally well (a 1-5 rating: a number or classes) it returns a question and choices
    instead of choosing. With a file, it also says in one sentence when the data disagrees with the goal.
    Use it when the user describes what the model should do rather than naming a task. Starts nothing.

    Args:
        description: What the model should do, in the user's words, e.g. "flag support tickets as urgent".
        file: Name of an uploaded data file to check against the goal, when there is one.
    """
    return advise(description, resolve_file(ctx, file) if file else None)
