"""What the playground shows, as plain data (no Gradio): one panel per side (the tuned model, its base, the run it
is compared with), each a conversation, labels with their probabilities (Gradio's Label draws them as bars) or a
short note. A model's words, labels and numbers are data: answers go into the chat panels as plain text, and notes
escape every markup character of what came from a model or the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.serve.play_targets import AUDIO, CHAT, INPUTS, LABEL_KINDS, MEDIA_KINDS, NOUNS, REGRESSION
from trainer.serve.playground import Absent, Answer, Outcome, Scores
from ui.render.safe import data_text

# The three sides, in the order they are shown.
SIDES = ("tuned", "base", "other")
NOTHING_COMPARED = "Pick another run or a deployment under **Compare with** to see its answer here."
HEADINGS = {"tuned": "Tuned model (the run)", "base": "Base model (before training)", "other": "Compared with"}


@dataclass(frozen=True)
class Panel:
    """What one side shows; None leaves a part as it is."""

    chat: list[dict[str, str]] | None = None  # the side's conversation, for a chat model
    labels: dict[str, float] | None = None  # every label's probability, for a classifier
    note: str = ""  # markdown: who answered and how fast, a predicted number, or why there is no answer


def describe(kind: str, pairs: bool, run_name: str) -> str:
    """The line under the pickers for a picked model: what it is and what to give it."""
    name = run_name.capitalize()
    if kind == CHAT:
        return f"{name} is a chat model: each side keeps its own conversation; type a message and press **Send**."
    answers = "a number" if kind == REGRESSION else "every label with its probability"
    if pairs:
        return f"{name} was trained on text pairs: type the first text and the second one; it answers {answers}."
    if kind in MEDIA_KINDS:
        how = "drop a file or record a clip" if kind == AUDIO else "drop a file"
        return f"{name} is {_a(NOUNS[kind])}: {how} and it answers {answers}."
    return f"{name} is {_a(NOUNS[kind])}: type one of its {INPUTS[kind]} and it answers {answers}."


def footer(answer: Answer) -> str:
    """Who gave a chat reply, how long it took and whether it was cut."""
    ending = "" if answer.stopped else " (cut at the token limit)"
    return f"— {answer.model}, {answer.seconds:.1f} s{ending}"


def answer_text(answer: Answer) -> str:
    """A chat reply with its footer."""
    return f"{answer.text}\n\n{footer(answer)}"


def labels_of(scores: Scores) -> dict[str, float]:
    """Every label's probability, as Gradio's Label takes them (it sorts them and draws bars)."""
    return {str(item["label"]): float(item["score"]) for item in scores.labels}


def scores_note(scores: Scores) -> str:
    """Who scored the input and how fast; a regression model's number in bold."""
    who = f"{data_text(scores.model)}, {scores.seconds:.2f} s"
    if scores.value is None:
        top = scores.labels[0] if scores.labels else None
        best = f"**{data_text(top['label'])}** ({float(top['score']):.1%}) · " if top else ""
        return f"{best}{who}"
    target = f" {data_text(scores.target)}" if scores.target else ""
    return f"Predicted{target}: **{scores.value:.4g}** · {who}"


def with_answer(history: list[dict[str, str]], outcome: Outcome | None) -> list[dict[str, str]]:
    """A side's conversation after its model's reply (unchanged when it gave none); the footer is kept apart, so
    the model reads its own words only."""
    if not isinstance(outcome, Answer):
        return list(history)
    return [*history, {"role": "assistant", "content": outcome.text, "footer": footer(outcome)}]


def conversation(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """A side's conversation as its model reads it: roles and words only."""
    return [{"role": item["role"], "content": item["content"]} for item in history]


def shown(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """A side's conversation as its chat panel shows it (plain text; each reply with its footer)."""
    return [
        {"role": item["role"], "content": item["content"] + (f"\n\n{item['footer']}" if item.get("footer") else "")}
        for item in history
    ]


def panel(outcome: Outcome | None, kind: str, history: list[dict[str, str]] | None = None) -> Panel:
    """One side after an answer; `history` is that side's conversation with the reply (see with_answer)."""
    if outcome is None:
        return Panel()
    chat = shown(history or []) if kind == CHAT else None
    if isinstance(outcome, Absent):
        return Panel(chat=chat, labels={} if kind in LABEL_KINDS else None, note=f"ℹ️ {data_text(outcome.reason)}")
    if isinstance(outcome, Answer):
        return Panel(chat=chat, note="")
    if kind in LABEL_KINDS:
        return Panel(labels=labels_of(outcome), note=scores_note(outcome))
    return Panel(note=scores_note(outcome))


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def empty_histories() -> dict[str, list[dict[str, Any]]]:
    return {side: [] for side in SIDES}
