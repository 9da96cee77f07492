"""One try in the playground, step by step, as plain data (no Gradio): the picked model answers, then its base,
then the run it is compared with, each step saying what is working (and what loads first) while it works.

A chat keeps one conversation per side: the same user messages, each side with its own model's replies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trainer.core.errors import UserError
from trainer.serve.play_targets import CHAT, MEDIA_KINDS, Target
from trainer.serve.playground import EMPTY_MESSAGE, PLAY_TOKENS, Absent, Answer, Given, Outcome, Playground, Scores
from ui.playground_render import SIDES, conversation, empty_histories, with_answer

Histories = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Request:
    """What the user gave: the picks and the input."""

    value: Any  # the picked run or deployment
    other: Any = None  # the run or deployment to compare with (None or "" for none)
    text: str = ""
    pair: str = ""
    data: bytes = b""  # an image or a sound clip, already read from the upload
    tokens: int = PLAY_TOKENS


@dataclass(frozen=True)
class Step:
    """Where a try stands: the status line, each side's answer so far, and the conversations."""

    status: str
    kind: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    histories: Histories = field(default_factory=empty_histories)
    done: bool = False  # the last step of the try


def steps(playground: Playground, request: Request, histories: Histories | None) -> Iterator[Step]:
    """The steps of one try; UserError (one sentence) when the picks or the input cannot be tried."""
    target, kind, pairs = playground.target(request.value)
    other = playground.target(request.other)[0] if request.other not in (None, "") else None
    if kind == CHAT and not request.text.strip():
        raise UserError(EMPTY_MESSAGE)
    before = {side: list((histories or {}).get(side) or []) for side in SIDES}
    if kind == CHAT:
        message = {"role": "user", "content": request.text.strip()}
        before = {side: [*before[side], message] for side in SIDES}
    else:
        before = empty_histories()
    if other is None:
        before["other"] = []
    outcomes: dict[str, Outcome] = {}
    after = dict(before)
    sides: list[tuple[str, str, bool]] = [("tuned", target.value, False), ("base", target.value, True)]
    if other is not None:
        sides.append(("other", other.value, False))
    playground.check_input(target.value, _given(request, kind, pairs, before["tuned"]))
    for side, value, base in sides:
        yield Step(_phase(playground, target, other, side, kind), kind, dict(outcomes), after)
        given = _given(request, kind, pairs, before[side])
        if side == "tuned":
            outcome: Outcome = playground.answer(value, given, request.tokens)
        elif base:
            outcome = playground.base(value, given, request.tokens)
        else:
            outcome = playground.compare(target.value, value, given, request.tokens)
        outcomes[side] = outcome
        after = {**after, side: with_answer(before[side], outcome)}
    yield Step(_done(kind, outcomes), kind, outcomes, after, done=True)


def _given(request: Request, kind: str, pairs: bool, history: list[dict[str, Any]]) -> Given:
    if kind == CHAT:
        return Given(text=request.text, messages=tuple(conversation(history)))
    if kind in MEDIA_KINDS:
        return Given(data=request.data)
    return Given(request.text.strip(), request.pair.strip() if pairs else None)


def _phase(playground: Playground, target: Target, other: Target | None, side: str, kind: str) -> str:
    verb = "answering" if kind == CHAT else "scoring the input"
    if side == "tuned":
        working, loaded = f"{target.name.capitalize()} is {verb}…", _loaded(playground, target)
    elif side == "base":
        working, loaded = f"Its base model is {verb}…", _loaded(playground, target, base=True)
    else:
        assert other is not None
        working, loaded = f"{other.name.capitalize()} is {verb}…", _loaded(playground, other)
    if loaded:
        return f"⏳ {working}"
    which = {"tuned": f"{target.name}'s model", "base": "its base model"}.get(side, f"{other and other.name}'s model")
    return f"⏳ Loading {which} (once; it stays loaded for the next tries), then: {working}"


def _loaded(playground: Playground, target: Target, base: bool = False) -> bool:
    if target.url is not None and not base:
        return True  # a deployment has its model loaded in its own process
    return playground.is_loaded(target.run_id, base=base)


def _done(kind: str, outcomes: dict[str, Outcome]) -> str:
    answered = [outcome for outcome in outcomes.values() if not isinstance(outcome, Absent)]
    if kind == CHAT:
        count = {1: "It answered", 2: "Both answered", 3: "All three answered"}[len(answered)]
        return f"{count}, greedily (the same message, the same settings)."
    tuned = outcomes["tuned"]
    assert isinstance(tuned, Scores | Answer)
    others = len(answered) - 1
    beside = f"; {others} more beside it" if others else ""
    return f"Scored by {tuned.model.removesuffix(' (tuned)')} in {tuned.seconds:.1f} s{beside}."
