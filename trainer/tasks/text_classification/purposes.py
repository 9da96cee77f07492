"""What text classification is for, in the words people use: the method advisor's view of this task."""

from __future__ import annotations

from trainer.data import kinds
from trainer.plan.config import BUNDLED_MODEL
from trainer.tasks.base import Purpose

FAMILY = "a small sentence encoder (MiniLM, 22 M parameters) with a new classification head"

SINGLE = Purpose(
    title="text classification",
    kind=kinds.TEXT_CLASSIFICATION,
    examples=(
        "flag support tickets as urgent",
        "build a spam detector",
        "sort customer emails by department",
        "tell whether a tweet is positive or negative",
        "tag feedback with its topic",
        "detect toxic comments",
        "route each ticket to the right team",
        "which category does each product description belong to",
        "detect the intent of a customer message",
        "filter out off-topic forum posts",
        "decide whether a product review is genuine or fake",
        "assign each incoming document to one of our categories",
        "spot which messages are complaints",
        "tell news stories about sport from politics",
    ),
    cues=(
        r"spam",
        r"flag(s|ged|ging)?",
        r"urgent",
        r"detect(or|s|ing)?",
        r"categor(y|ies|ise|ize|ised|ized)",
        r"tag(s|ged|ging)?",
        r"topics?",
        r"sentiment",
        r"positive or negative",
        r"toxic(ity)?",
        r"abusive",
        r"intents?",
        r"route|routing",
        r"sort(s|ing)? \w+( \w+)? (into|by)",
        r"filter(s|ing)?",
        r"moderat(e|ion)",
        r"fraud(ulent)?",
        r"phishing",
        r"which (kind|type|class|department|team)",
    ),
    model=BUNDLED_MODEL,
    family=FAMILY,
    why=(
        "Picking one of a fixed set of labels for a text is classification: a small encoder with a new head "
        "learns it from a few hundred labelled examples, trains in minutes on a CPU and answers in milliseconds, "
        "where a chat model would be slower and could answer outside your labels."
    ),
    data="a column of texts and a column with a few categories",
    labels="categories",
)

PAIRS = Purpose(
    title="text-pair classification",
    kind=kinds.TEXT_PAIR_CLASSIFICATION,
    examples=(
        "are these two questions duplicates",
        "does the answer match the question",
        "does the second sentence follow from the first",
        "are two product titles the same item",
        "is the claim supported by the passage",
        "check whether two records describe the same customer",
        "decide if a search result is relevant to the query",
        "do these two sentences mean the same thing",
    ),
    cues=(
        r"duplicates?",
        r"paraphrases?",
        r"two (questions|sentences|texts|titles|descriptions|documents)",
        r"pairs? of (questions|sentences|texts|titles|documents)",
        r"(sentence|text|question) pairs?",
        r"same (meaning|thing|item|product|question)",
        r"entail(s|ment)?",
        r"contradict(s|ion)?",
        r"follows? from",
        r"(match|matches|answers) the question",
        r"supported by",
    ),
    model=BUNDLED_MODEL,
    family=FAMILY,
    why=(
        "Judging how two texts relate (the same question, an answer that fits, a claim that follows) is "
        "text-pair classification: the encoder reads both texts together, so it sees them side by side, and a "
        "small head names the relation."
    ),
    data="two text columns (e.g. question1 and question2) and a label column",
    labels="categories",
)
