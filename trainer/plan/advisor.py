"""The method advisor: from a plain description of a goal ("flag support tickets as urgent"), and the data when
there is some, the task, model family and method to train, and why.

Every task says what it is for (`Task.purposes`, set in the task's own module): descriptions people give, word
cues, its default model and the reason. Cue words (a goal's own, or a task's name) decide alone when one kind
has two more of them than any other; otherwise the bundled MiniLM compares the description with each purpose's
examples by meaning (trainer/plan/meaning.py), each cue word adding a little. Two kinds that fit equally well, or
a purpose that
says another fits as well (a 1-5 rating: a number or five classes), make it ask instead of choosing. All of it
is offline and deterministic: the same description (and data) gives the same advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from trainer.core.errors import UserError
from trainer.core.records import Record
from trainer.data import kinds
from trainer.models.catalog import get_model
from trainer.plan import advisor_data
from trainer.tasks.base import Purpose, Task
from trainer.tasks.registry import all_tasks, task_for_kind

# Points ahead of every other kind that let cue words decide without comparing meanings (two more words).
LEAD = 4
# What one cue point is worth in cosine similarity when meaning decides (a goal's own word is two points).
CUE_WEIGHT = 0.1
# Closer than this in cosine similarity, two purposes of different kinds are a question, not a choice.
MARGIN = 0.04
# Below this similarity to every example the description says too little to choose from.
FLOOR = 0.33
# What a user says in guided mode to use a kind (agent/intents.py reads "treat it as ...").
SAY = "treat it as {}"


@dataclass(frozen=True)
class Candidate:
    task: Task
    purpose: Purpose
    cues: tuple[str, ...] = ()
    # How many of `cues` are the purpose's own cue words (the rest name the task: "classifier", "dpo").
    goal_cues: int = 0
    similarity: float = 0.0
    example: str = ""

    @property
    def score(self) -> float:
        """Meaning and cue words weighed together."""
        return round(self.similarity + CUE_WEIGHT * self.points, 4)

    @property
    def points(self) -> int:
        # Two per word: a goal's own cue word, or the task's name ("classifier", "dpo").
        return 2 * len(self.cues)


@dataclass(frozen=True)
class Advice(Record):
    """What to train for a described goal: the task, its default model and method, why, and what to ask."""

    # The task (registry name) and the goal's title ("text-pair classification") and data kind.
    task: str
    title: str
    kind: str
    # The default model (offline catalog name), what it is, and its family in words.
    model: str
    model_description: str
    family: str
    # The training method (the task's default: "lora" for chat models, "full" for encoders) and why.
    method: str
    why: str
    # What decided it: the cue words found, or the nearest example description by meaning.
    evidence: str
    # True when cue words of a goal decided (not only the name of a task or nothing at all).
    from_goal: bool
    # Other tasks that could fit: {"task", "title", "say"}.
    alternatives: list[dict[str, str]] = field(default_factory=list)
    # A question when two ways fit equally well, with what to say for each ("treat it as regression").
    question: str = ""
    choices: list[str] = field(default_factory=list)
    # With a data file: one sentence when the data disagrees with the description, and what to do.
    file: str = ""
    data_note: str = ""
    # The data kind a plan on this file should use (None: leave it to detection, or the data disagrees).
    use_kind: str | None = None


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s\-/–']", " ", text.lower()).split())


@lru_cache(maxsize=256)
def _pattern(cue: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{cue})(?!\w)")


def _candidate(text: str, task: Task, purpose: Purpose, first: bool) -> Candidate:
    """`purpose` with its cue words in `text`; the task's own name and aliases count for its first purpose."""
    hits = tuple(dict.fromkeys(found.group(0) for cue in purpose.cues if (found := _pattern(cue).search(text))))
    names: tuple[str, ...] = ()
    if first:
        words = dict.fromkeys((task.name.replace("-", " "), task.name, *task.aliases))
        names = tuple(w for w in words if len(w) > 2 and w not in hits and _pattern(re.escape(w)).search(text))
    return Candidate(task, purpose, hits + names, len(hits))


def candidates(text: str) -> list[Candidate]:
    """Every task's purposes with the cue words of `text` they match, in registry order."""
    return [
        _candidate(text, task, purpose, index == 0)
        for task in all_tasks()
        for index, purpose in enumerate(task.purposes)
    ]


def _by_meaning(text: str, pool: list[Candidate]) -> list[Candidate]:
    from trainer.plan.meaning import nearest

    found = nearest(text, [c.purpose.examples for c in pool])
    scored = [
        Candidate(c.task, c.purpose, c.cues, c.goal_cues, score, example)
        for c, (score, example) in zip(pool, found, strict=True)
    ]
    return sorted(scored, key=lambda c: -c.similarity)  # stable: registry order breaks exact ties


def _distinct(ranked: list[Candidate]) -> list[Candidate]:
    """The best candidate of each data kind, in rank order."""
    seen: set[str] = set()
    kept = []
    for candidate in ranked:
        if candidate.purpose.kind not in seen:
            seen.add(candidate.purpose.kind)
            kept.append(candidate)
    return kept


def _rank(text: str) -> tuple[list[Candidate], str]:
    """Candidates best first (one per kind), and "close" when the top two are too close to choose between,
    "unsure" when the description is like none of the examples, "" otherwise.

    Cue words alone decide when one kind leads every other by LEAD points (two more goal words, or one and its
    name); otherwise meaning decides, with each cue point worth CUE_WEIGHT of similarity."""
    pool = candidates(text)
    by_points = _distinct(sorted(pool, key=lambda c: -c.points))
    top = by_points[0].points
    runner_up = by_points[1].points if len(by_points) > 1 else 0
    if top > 0 and top - runner_up >= LEAD:
        return [c for c in by_points if c.points > 0], ""
    ranked = _distinct(sorted(_by_meaning(text, pool), key=lambda c: -c.score))
    if ranked[0].similarity < FLOOR:
        # Like none of the examples: the cue words decide if one kind leads, else the description says too little.
        return (by_points, "") if top > runner_up else (ranked, "unsure")
    close = len(ranked) > 1 and ranked[0].score - ranked[1].score < MARGIN
    return ranked, "close" if close else ""


def _say(kind: str) -> str:
    return SAY.format("chat" if kind in kinds.CONVERSATIONS else kind.replace("-", " "))


def _companion(kind: str) -> Candidate | None:
    """The purpose of `kind` (the first task training that kind, its first purpose of that kind)."""
    task = task_for_kind(kind)
    purpose = next((p for p in task.purposes if p.kind == kind), None) if task is not None else None
    return Candidate(task, purpose) if task is not None and purpose is not None else None


def _evidence(chosen: Candidate) -> str:
    words = "the words " + ", ".join(f"“{cue}”" for cue in chosen.cues) if chosen.cues else ""
    meaning = (
        f"its meaning, closest to “{chosen.example}” (similarity {chosen.similarity:.2f})" if chosen.example else ""
    )
    return " and ".join(part for part in (words, meaning) if part)


def advise(description: str, path: Path | None = None) -> Advice:
    """The task, model family and method for a described goal, and why; with `path`, whether the data agrees."""
    text = _words(description)
    if not text:
        raise UserError("Describe what the model should do, e.g. 'flag support tickets as urgent'.")
    ranked, verdict = _rank(text)
    if not ranked:
        raise UserError("No task says what it is for; name one, e.g. 'train a text classifier'.")
    chosen = ranked[0]
    purpose = chosen.purpose
    offered: list[Candidate] = []
    question = ""
    if purpose.also_kind and (other := _companion(purpose.also_kind)) is not None:
        offered, question = [chosen, other], purpose.question
    elif verdict == "close":
        first, second = ranked[0], ranked[1]
        offered = [first, second]
        question = f"Is this {first.purpose.title} or {second.purpose.title}?"
    elif verdict == "unsure":
        question = (
            "I cannot tell from that what the model should do; say what goes in and what should come out, e.g. "
            "“flag support tickets as urgent” or “answer in our house style”."
        )
    alternatives = [
        {"task": c.task.name, "title": c.purpose.title, "say": _say(c.purpose.kind)}
        for c in (offered[1:] if offered else ranked[1:3])
        if c.points > 0 or offered
    ]
    advice = Advice(
        task=chosen.task.name,
        title=purpose.title,
        kind=purpose.kind,
        model=purpose.model,
        model_description=get_model(purpose.model).description,
        family=purpose.family,
        method=chosen.task.methods[0],
        why=purpose.why,
        evidence=_evidence(chosen),
        from_goal=chosen.goal_cues > 0,
        alternatives=alternatives,
        question=question,
        choices=[_say(c.purpose.kind) for c in offered] if len(offered) > 1 else [],
    )
    if path is None:
        return advice
    note, use_kind = advisor_data.check(path, chosen.task, purpose)
    return replace(advice, file=path.name, data_note=note, use_kind=None if question else use_kind)


def describes_goal(description: str) -> bool:
    """True when `description` has the words of a goal and names no task ("build a spam detector", not "fine-tune
    a sentiment classifier"): what guided mode asks before advising. Cheap: no model is loaded."""
    text = _words(description)
    found = candidates(text) if text else []
    return any(c.goal_cues for c in found) and not any(len(c.cues) > c.goal_cues for c in found)
