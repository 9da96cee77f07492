"""Whether a preference run moved what the model actually says: on held-out prompts, how often its greedy answer is
closer (by ROUGE-L) to the chosen answer than to the rejected one, before and after training.

Reward accuracy (preference_eval.py) says which of two given answers the model now scores higher; this says
whether the answer it writes itself now resembles the preferred one. Pairs (DPO, ORPO) compare each answer with
its pair's chosen and rejected answers. Answers marked good or bad (KTO) have no pairs: a held-out prompt counts
when the held-out rows hold both a desirable and an undesirable answer to it, and the model's answer is closer to
the nearest desirable one than to the nearest undesirable one; without such prompts it is not measurable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.evaluate.text_metrics import ROUGE_L, rouge_l
from trainer.tasks.base import MetricSpec

# Held-out prompts answered before and after training (one greedy generation each time).
MAX_PROMPTS = 16
MIN_NEW_TOKENS, MAX_NEW_TOKENS = 8, 96
# Prompts answered together (one padded batch).
BATCH = 8
# Answers shown side by side in the report.
SHOWN = 5

CLOSENESS_METRICS = (
    MetricSpec(
        "closer_to_chosen",
        "share of held-out prompts whose greedy answer is closer (ROUGE-L) to the chosen answer than to the rejected",
        1,
        "closer to chosen",
    ),
    MetricSpec("closer_to_chosen_before", "the same share for the model before training", 0),
)


def _text(answer: Any) -> str:
    """An answer's text: a list of messages (its last one), or a string."""
    if isinstance(answer, list):
        return str(answer[-1].get("content") or "") if answer else ""
    return str(answer or "")


def _prompt(row: dict[str, Any]) -> list[dict[str, Any]]:
    prompt = row["prompt"]
    return list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]


def closer_share(answers: list[str], good: list[list[str]], bad: list[list[str]]) -> dict[str, Any]:
    """Share of answers closer to their nearest good reference than to their nearest bad one, and of ties."""
    closer = ties = 0
    for answer, goods, bads in zip(answers, good, bad, strict=True):
        near_good = max(rouge_l(answer, text) for text in goods)
        near_bad = max(rouge_l(answer, text) for text in bads)
        closer += near_good > near_bad
        ties += near_good == near_bad
    count = len(answers)
    return {
        "closer_to_chosen": round(closer / count, 4) if count else None,
        "ties": round(ties / count, 4) if count else None,
        "prompts": count,
    }


def pair_items(rows: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], list[str], list[str]]]:
    """(prompt, chosen answers, rejected answers) of held-out pairs."""
    return [(_prompt(r), [_text(r["chosen"])], [_text(r["rejected"])]) for r in rows[:MAX_PROMPTS]]


def label_items(rows: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], list[str], list[str]]]:
    """(prompt, desirable answers, undesirable answers) of held-out prompts that have both kinds."""
    grouped: dict[str, tuple[list[dict[str, Any]], list[str], list[str]]] = {}
    for row in rows:
        prompt = _prompt(row)
        key = json.dumps(prompt, sort_keys=True, ensure_ascii=False)
        entry = grouped.setdefault(key, (prompt, [], []))
        (entry[1] if row["label"] else entry[2]).append(_text(row["completion"]))
    return [item for item in grouped.values() if item[1] and item[2]][:MAX_PROMPTS]


class ClosenessProbe:
    """Greedy answers to held-out prompts before and after training, each compared with its good and bad answers."""

    reference_file = "closeness_reference.json"
    phase = "answering held-out prompts"

    def __init__(self, items: list[tuple[list[dict[str, Any]], list[str], list[str]]], unmeasurable: str) -> None:
        self.items = items
        # Why there is nothing to measure (one sentence), when there are no items.
        self.unmeasurable = unmeasurable
        self.saved: dict[str, Any] = {}

    def _budget(self, tokenizer: Any) -> int:
        texts = [text for _, good, bad in self.items for text in good + bad]
        longest = max((len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts), default=0)
        return max(MIN_NEW_TOKENS, min(MAX_NEW_TOKENS, int(longest * 1.25) + 4))

    def _answers(self, model: Any, tokenizer: Any, budget: int) -> list[str]:
        from trainer.tasks.causal_lm.generate import generate

        prompts = [prompt for prompt, _, _ in self.items]
        return generate(model, tokenizer, prompts, max_new_tokens=budget, batch_size=BATCH)

    def _share(self, answers: list[str]) -> dict[str, Any]:
        return closer_share(answers, [good for _, good, _ in self.items], [bad for _, _, bad in self.items])

    def start(self, model: Any, tokenizer: Any, path: Path) -> None:
        if path.is_file():
            self.saved = read_json(path)
            return
        if self.items:
            budget = self._budget(tokenizer)
            answers = self._answers(model, tokenizer, budget)
            self.saved = {"max_new_tokens": budget, "answers": answers}
        atomic_write_json(path, self.saved)

    def before_training(self, trainer: Any) -> None:
        """Nothing: the answers before training need only the model."""

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        if not self.items:
            return {"closeness": {"measurable": False, "reason": self.unmeasurable}}
        answers = self._answers(model, tokenizer, int(self.saved["max_new_tokens"]))
        before, after = self._share(self.saved["answers"]), self._share(answers)
        shown = [
            {"prompt": _text(prompt), "chosen": good[0], "rejected": bad[0], "base": old, "tuned": new}
            for (prompt, good, bad), old, new in zip(self.items, self.saved["answers"], answers, strict=True)
        ][:SHOWN]
        return {
            "closeness": {"measurable": True, "metric": ROUGE_L, "before": before, "after": after, "answers": shown},
            "closer_to_chosen": after["closer_to_chosen"],
            "closer_to_chosen_before": before["closer_to_chosen"],
        }


def pair_probe(rows: list[dict[str, Any]]) -> ClosenessProbe | None:
    return ClosenessProbe(pair_items(rows), "") if rows else None


def label_probe(rows: list[dict[str, Any]]) -> ClosenessProbe | None:
    if not rows:
        return None
    return ClosenessProbe(
        label_items(rows),
        "No held-out prompt has both a desirable and an undesirable answer, so whether the model's own answers "
        "moved towards the desirable ones is not measurable; give several answers per prompt to measure it.",
    )
