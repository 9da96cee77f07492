"""Guided mode's sense of meaning: which intents a message is closest to, by sentence embeddings.

The bundled all-MiniLM-L6-v2 embeds the message (mean pooling over its tokens, L2-normalised, float32 on the
CPU) and compares it with the example phrasings of every intent (agent/intent_examples.py) through a linear
read-out fitted on the examples' embeddings (multinomial logistic regression): it learns which directions of the
embedding tell intents apart ("continue" from "stop" in "... the training"), where plain nearest neighbours are
pulled by the words requests share. On the first 300 examples, the read-out 4-fold cross-validated was right
86% of the time, neighbours (mean similarity of the 3 nearest, leave-one-out) 60%. The model, the examples'
embeddings and the read-out are made once per process, on the first message the rules do not settle.

Chat shorthand ("whats", "pls") is written out, and misspelt words ("stauts", "deplyo") are mended to the
nearest word of the examples when they are one edit away (two for long words) and are not words the model knows: a
cheap repair that keeps real words as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agent.intent_examples import EXAMPLES
from trainer.plan.meaning import embed, tokenizer

# The read-out's inverse regularisation, chosen by 4-fold cross-validation on the examples: with about 1,020 of them
# it was right 87.5% of the time at C=10, 88.3% at 30, 88.7% at 100.
READOUT_C = 100.0
WORD = re.compile(r"[a-z]+")
# Words a misspelling is mended to besides those of the examples.
EXTRA_WORDS = ("training", "trained", "evaluate", "classifier", "deploy", "status", "compare", "help", "stop")
# Chat shorthand and contractions typed without the apostrophe, which the model's tokenizer reads as unknown words
# ("whats" as "what" + "##s"): written out, they mean what the examples say.
SHORTHAND = {
    "whats": "what's",
    "hows": "how's",
    "wheres": "where's",
    "whos": "who's",
    "thats": "that's",
    "ive": "i've",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "youre": "you're",
    "theres": "there's",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thank you",
    "u": "you",
    "ur": "your",
}


@dataclass(frozen=True)
class Ranking:
    """The intents by probability, best first: [(intent, probability), ...] over every intent with examples."""

    scores: list[tuple[str, float]]

    @property
    def best(self) -> tuple[str, float]:
        return self.scores[0]

    @property
    def runner_up(self) -> tuple[str, float]:
        return self.scores[1]

    def score(self, intent: str) -> float:
        return dict(self.scores).get(intent, 0.0)


@lru_cache(maxsize=1)
def _examples() -> tuple[list[str], Any]:
    labels = [intent for intent, phrases in EXAMPLES.items() for _ in phrases]
    return labels, embed([phrase for phrases in EXAMPLES.values() for phrase in phrases])


@lru_cache(maxsize=1)
def _readout() -> Any:
    from sklearn.linear_model import LogisticRegression

    labels, embeddings = _examples()
    return LogisticRegression(C=READOUT_C, max_iter=3000).fit(embeddings.numpy(), labels)


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """The words misspellings are mended to, and every whole word the model's tokenizer knows."""
    ours = {word for phrases in EXAMPLES.values() for phrase in phrases for word in WORD.findall(phrase.lower())}
    ours |= set(EXTRA_WORDS)
    known = frozenset(word for word in tokenizer().get_vocab() if word.isalpha())
    return frozenset(word for word in ours if len(word) >= 3), known


def _edits(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of two neighbours is one edit), stopped past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def mend_typos(text: str) -> str:
    """`text` lower-cased with each unknown word one edit (two when it is long) from an example word replaced."""
    ours, known = _vocabulary()

    def mend(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in SHORTHAND:
            return SHORTHAND[word]
        if len(word) < 4 or word in ours or word in known:
            return word
        limit = 1 if len(word) < 7 else 2
        # Fewest edits; then a word of the same length (a swapped or wrong letter is likelier than a lost one).
        best = min(ours, key=lambda other: (_edits(word, other, limit), abs(len(other) - len(word)), other))
        return best if _edits(word, best, limit) <= limit else word

    return WORD.sub(mend, text.lower())


def rank(message: str) -> Ranking:
    """Every intent's probability for `message` (typos mended first), best first."""
    readout = _readout()
    probabilities = readout.predict_proba(embed([mend_typos(message)]).numpy())[0]
    scores = zip((str(name) for name in readout.classes_), (float(p) for p in probabilities), strict=True)
    return Ranking(sorted(scores, key=lambda item: -item[1]))


# Below this probability the best intent is not understood at all.
SURE_ENOUGH = 0.25
# Two intents closer than this are both offered as a question rather than one guessed (on the examples,
# cross-validated: 8% of them asked, 89% right among the rest, the right intent among the two asked 74%).
MARGIN = 0.1
# A broad keyword rule ("train" in "is the training over", "start" in "start over from the checkpoint") stands
# unless meaning gives its intent less than this; then meaning decides as if no rule had matched.
DOUBT = 0.1
# Rules that fire on a word many requests share; every other rule is precise and stands without the model.
BROAD_RULES = frozenset({"train", "go", "inspect", "status", "evaluate", "list_runs", "stop", "deploy"})
NOT_A_REQUEST = "other"
SHELL_LINE = re.compile(r"\b[A-Z][A-Z0-9_]+=\S")
# A message of one word ("status", "stop", "go") that a keyword rule matched is as precise as a command gets: it
# stands without loading the model, so the first "status" after a start answers at once.
ONE_WORD = re.compile(r"^\W*[a-z]+\W*$")
# A reply that opens with a refusal ("nah", "not yet", "don't") never says yes to a plan, however close it is to one.
REFUSAL = re.compile(r"^\W*(no|nah|nope|not|don'?t|never|wait|hold on)\b", re.IGNORECASE)
YES = "go"


@dataclass(frozen=True)
class Decision:
    """What the message asks for ("unknown": nothing), or the two intents to ask the user to choose between."""

    intent: str
    ask: tuple[str, str] | None = None


def decide(message: str, by_rules: str) -> Decision:
    """Combine the rules' intent with the message's meaning. Precise rules and plain settings stand as they are
    (the model is not even loaded); a broad rule stands unless meaning doubts it; with no rule standing, meaning
    decides, or asks between its top two when they are within `MARGIN`, or leaves the rules' answer."""
    if (by_rules != "unknown" and by_rules not in BROAD_RULES) or not WORD.search(message.lower()):
        return Decision(by_rules)
    if SHELL_LINE.search(message):  # "export OPENAI_API_KEY=sk-...": a pasted shell line, not a request
        return Decision(by_rules)
    if by_rules in BROAD_RULES and ONE_WORD.match(message.lower()):
        return Decision(by_rules)
    ranking = rank(message)
    if by_rules in BROAD_RULES and ranking.score(by_rules) >= DOUBT:
        return Decision(by_rules)
    (best, p_best), (second, p_second) = ranking.best, ranking.runner_up
    if best == NOT_A_REQUEST or p_best < SURE_ENOUGH or (best == YES and REFUSAL.search(message)):
        return Decision(by_rules)
    if p_best - p_second < MARGIN and second != NOT_A_REQUEST:
        return Decision(best, ask=(best, second))
    return Decision(best)
