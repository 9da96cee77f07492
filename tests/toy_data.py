"""Toy data the tests learn from: reviews whose sentiment is one clear word, and question/answer chats."""

from __future__ import annotations

import json
import random
from pathlib import Path

POSITIVE = ["great", "lovely", "excellent", "wonderful", "fantastic", "superb", "delightful", "amazing"]
NEGATIVE = ["awful", "terrible", "horrible", "dreadful", "bad", "poor", "disgusting", "nasty"]
FILLER = ["the", "food", "was", "service", "really", "quite", "place", "and", "staff", "meal", "today"]


def make_reviews(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Short reviews whose sentiment is carried by one clear word, learnable in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


# A learnable toy task for language models: each question has one fixed answer.
FACTS = [
    ("what color is the sky", "the sky is blue"),
    ("what color is grass", "grass is green"),
    ("what do cows drink", "cows drink water"),
    ("how many legs has a cat", "a cat has four legs"),
    ("what is two plus two", "two plus two is four"),
    ("where do fish live", "fish live in water"),
    ("what color is snow", "snow is white"),
    ("what do bees make", "bees make honey"),
]
WRONG = ["i do not know", "the moon is cheese", "no idea at all", "purple elephants"]


def chat_rows(n: int = 48, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = FACTS[i % len(FACTS)]
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if rng.random() < 0.3:
            messages.insert(0, {"role": "system", "content": "answer briefly"})
        rows.append({"messages": messages})
    return rows


def pair_rows(n: int = 32, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = FACTS[i % len(FACTS)]
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": answer}],
                "rejected": [{"role": "assistant", "content": rng.choice(WRONG)}],
            }
        )
    return rows


def kto_rows(n: int = 32, seed: int = 0, messages: bool = True) -> list[dict]:
    """KTO examples of the toy facts: the right answer marked true, a wrong one false, alternating.

    `messages` writes LLaMA-Factory's form ({"messages", "label"}), otherwise TRL's ({"prompt", "completion", "label"}).
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = FACTS[(i // 2) % len(FACTS)]
        good = i % 2 == 0
        reply = answer if good else rng.choice(WRONG)
        if messages:
            turns = [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
            rows.append({"messages": turns, "label": good})
        else:
            rows.append({"prompt": question, "completion": reply, "label": good})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def short_chats(n: int = 40) -> list[dict]:
    """Chats of the toy facts answered in one word ("what color is the sky" -> "blue"), cycling through them."""
    short = [(question, answer.split()[-1]) for question, answer in FACTS]
    return [
        {
            "messages": [
                {"role": "user", "content": short[i % len(short)][0]},
                {"role": "assistant", "content": short[i % len(short)][1]},
            ]
        }
        for i in range(n)
    ]
