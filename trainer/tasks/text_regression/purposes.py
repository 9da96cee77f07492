"""What text regression is for, in the words people use: the method advisor's view of this task."""

from __future__ import annotations

from trainer.data import kinds
from trainer.plan.config import BUNDLED_MODEL
from trainer.tasks.base import Purpose

FAMILY = "a small sentence encoder (MiniLM, 22 M parameters) with a one-number head"
WHY = (
    "Predicting a number from a text is regression: the encoder learns one output on a standardised target, "
    "so being off by a little costs less than being off by a lot, and it can answer between the values it saw."
)

NUMBER = Purpose(
    title="text regression",
    kind=kinds.REGRESSION,
    examples=(
        "predict the price of a listing from its description",
        "estimate how many days a ticket takes to resolve",
        "predict the salary from a job ad",
        "score essays from 0 to 100",
        "how similar are two sentences as a number",
        "forecast how many units a product description will sell",
        "predict how long a repair will take from the technician's note",
        "estimate a reading difficulty level for each article",
    ),
    cues=(
        r"regression",
        r"price",
        r"cost",
        r"salary",
        r"how (much|many|long)",
        r"estimate(s|d)?",
        r"predict (the|a) (number|value|amount|score|duration)",
        r"numbers?",
        r"amount",
        r"continuous",
        r"\d+ ?(to|-|–) ?\d\d+",
    ),
    model=BUNDLED_MODEL,
    family=FAMILY,
    why=WHY,
    data="a column of texts and a column of numbers",
    labels="numbers",
)

SCALE = Purpose(
    title="text regression",
    kind=kinds.REGRESSION,
    examples=(
        "rate how positive a review is from 1 to 5",
        "how many stars will this review get",
        "grade each answer on a scale of 1 to 10",
    ),
    cues=(
        r"(from |between )?\d ?(to|-|–|and) ?(\d|10)",
        r"stars?",
        r"(?<!learning )rat(e|es|ing|ings)",
        r"grade(s|d)?",
        r"scale",
        r"score",
    ),
    model=BUNDLED_MODEL,
    family=FAMILY,
    why=WHY,
    data="a column of texts and a column of ratings",
    also_kind=kinds.TEXT_CLASSIFICATION,
    question=(
        "A rating on a small scale can be learned two ways: as a number (regression: 4 is closer to 5 than to "
        "1, and it can answer 3.6) or as separate classes (classification: each grade its own category, "
        "scored by accuracy). Which do you want?"
    ),
)
