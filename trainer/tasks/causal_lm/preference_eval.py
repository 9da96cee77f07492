"""How a preference run moved the model, measured on held-out examples before and after training.

Pairs (DPO, ORPO): the share of held-out pairs the model ranks chosen above rejected, and the mean margin. Before
training the policy is the reference, so the DPO implicit reward beta*(log pi - log ref) is zero for every answer;
the "before" figures use the model's own log-likelihood of each answer instead, summed and per token (the sum
favours short answers). After training the same likelihood figures are measured again, plus the implicit reward
against the model as it was before training.

Labelled answers (KTO): the share of desirable answers whose likelihood rose and of undesirable ones whose
likelihood fell, and the mean per-token log-likelihood of each class before and after.

The reference figures are written to a file in the run folder when computed, so a resumed run compares against
the model as it was before its first step, not against a half-trained one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.tasks.base import MetricSpec

# Held-out examples scored (each answer is one forward pass before and one after training).
MAX_ROWS = 64

PAIR_METRICS = (
    MetricSpec(
        "reward_accuracy",
        "share of held-out pairs whose chosen answer the tuned model rewards above the rejected one "
        "(implicit reward beta*(log pi - log ref), against the model before training)",
        1,
        "reward accuracy",
    ),
    MetricSpec(
        "reward_accuracy_before",
        "the same share before training, by the model's own per-token log-likelihood of each answer",
        0,
        "reward accuracy before",
    ),
    MetricSpec("reward_margin", "mean implicit reward of the chosen answer minus the rejected one", 1),
)
KTO_METRICS = (
    MetricSpec(
        "reward_accuracy",
        "share of held-out answers whose likelihood moved the right way (desirable up, undesirable down)",
        1,
        "reward accuracy",
    ),
    MetricSpec("desirable_rose", "share of held-out desirable answers whose likelihood rose", 1),
    MetricSpec("undesirable_fell", "share of held-out undesirable answers whose likelihood fell", 1),
)


def completion_logp(
    model: Any, tokenizer: Any, prompt: list[dict[str, Any]], completion: list[dict[str, Any]], max_length: int
) -> tuple[float, int]:
    """The summed log-probability of `completion` after `prompt` (chat template applied) and its token count."""
    import torch

    prompt_ids = list(
        tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"]
    )
    ids = list(tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)["input_ids"])
    # The answer starts where the two diverge (as TRL's trainers count it), not always right after the prompt.
    start = 0
    while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
        start += 1
    ids = ids[:max_length]
    if start >= len(ids) or start == 0:
        return 0.0, 0
    device = next(model.parameters()).device
    inputs = torch.tensor([ids], device=device)
    logits = model(input_ids=inputs).logits[0, start - 1 : -1].float()
    targets = inputs[0, start:]
    logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return float(logps.sum()), len(targets)


def _score(model: Any, tokenizer: Any, answers: list[tuple[list, list]], max_length: int) -> list[tuple[float, int]]:
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [completion_logp(model, tokenizer, p, c, max_length) for p, c in answers]
    finally:
        model.train(was_training)


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _per_token(score: tuple[float, int]) -> float:
    return score[0] / max(score[1], 1)


class HeldOutProbe:
    """Held-out examples scored by the model before training (kept as the reference) and again after it."""

    reference_file = "preference_reference.json"
    phase = "scoring held-out examples"

    def __init__(self, rows: list[dict[str, Any]], beta: float, max_length: int) -> None:
        self.rows = rows[:MAX_ROWS]
        self.beta, self.max_length = beta, max_length
        self.reference: list[list[float]] = []
        self.before: dict[str, Any] = {}

    def _answers(self) -> list[tuple[list, list]]:
        """The (prompt, answer) pairs scored, in the order the reference keeps."""
        raise NotImplementedError

    def _summary(self, scores: list[tuple[float, int]]) -> dict[str, Any]:
        """The figures of one scoring (before or after)."""
        raise NotImplementedError

    def before_training(self, trainer: Any) -> None:
        """Nothing: the scores before training need only the model."""

    def start(self, model: Any, tokenizer: Any, path: Path) -> None:
        """Score the held-out rows with the model before training (or read the scores a first attempt saved)."""
        if path.is_file():
            saved = read_json(path)
            self.reference, self.before = saved["reference"], saved["before"]
            return
        scores = _score(model, tokenizer, self._answers(), self.max_length)
        self.reference = [[s, n] for s, n in scores]
        self.before = self._summary(scores)
        atomic_write_json(path, {"reference": self.reference, "before": self.before})


class PairProbe(HeldOutProbe):
    """Held-out preference pairs {prompt, chosen, rejected}, scored before and after training."""

    def _answers(self) -> list[tuple[list, list]]:
        return [(r["prompt"], r[side]) for r in self.rows for side in ("chosen", "rejected")]

    def _scored(self, i: int) -> bool:
        """False for a pair an answer of which max_length cut away entirely (its prompt fills it): left out."""
        return bool(self.reference[2 * i][1] and self.reference[2 * i + 1][1])

    def _summary(self, scores: list[tuple[float, int]]) -> dict[str, Any]:
        kept = [i for i in range(len(self.rows)) if self._scored(i)]
        chosen, rejected = [scores[2 * i] for i in kept], [scores[2 * i + 1] for i in kept]
        summed = [c[0] - r[0] for c, r in zip(chosen, rejected, strict=True)]
        per_token = [_per_token(c) - _per_token(r) for c, r in zip(chosen, rejected, strict=True)]
        return {
            "pairs": len(summed),
            "likelihood_accuracy": _share([m > 0 for m in summed]),
            "likelihood_margin": _mean(summed),
            "normalized_accuracy": _share([m > 0 for m in per_token]),
            "normalized_margin": _mean(per_token),
        }

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """The before and after figures, and the top-level numbers the task's metrics name."""
        scores = _score(model, tokenizer, self._answers(), self.max_length)
        after = self._summary(scores)
        # Implicit reward of each answer: beta * (log pi(answer) - log ref(answer)), summed over its tokens.
        rewards = [self.beta * (s - ref[0]) for (s, _), ref in zip(scores, self.reference, strict=True)]
        margins = [rewards[2 * i] - rewards[2 * i + 1] for i in range(len(self.rows)) if self._scored(i)]
        after.update(reward_accuracy=_share([m > 0 for m in margins]), reward_margin=_mean(margins))
        return {
            "preference": {"kind": "pairs", "beta": self.beta, "before": self.before, "after": after},
            "reward_accuracy": after["reward_accuracy"],
            "reward_margin": after["reward_margin"],
            "reward_accuracy_before": self.before["normalized_accuracy"],
        }


class LabelProbe(HeldOutProbe):
    """Held-out KTO examples {prompt, completion, label}, scored before and after training."""

    def _answers(self) -> list[tuple[list, list]]:
        return [(r["prompt"], r["completion"]) for r in self.rows]

    def _kept(self, values: list[Any], label: bool) -> list[Any]:
        """The values of the rows with this label whose answer kept tokens within max_length."""
        rows = zip(values, self.rows, self.reference, strict=True)
        return [value for value, row, ref in rows if row["label"] == label and ref[1]]

    def _summary(self, scores: list[tuple[float, int]]) -> dict[str, Any]:
        good = [_per_token(s) for s in self._kept(scores, True)]
        bad = [_per_token(s) for s in self._kept(scores, False)]
        return {
            "desirable": len(good),
            "undesirable": len(bad),
            "desirable_logp_per_token": _mean(good),
            "undesirable_logp_per_token": _mean(bad),
        }

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        scores = _score(model, tokenizer, self._answers(), self.max_length)
        after = self._summary(scores)
        moved = [s - ref[0] for (s, _), ref in zip(scores, self.reference, strict=True)]
        rose = [m > 0 for m in self._kept(moved, True)]
        fell = [m < 0 for m in self._kept(moved, False)]
        after.update(
            desirable_rose=_share(rose),
            undesirable_fell=_share(fell),
            reward_accuracy=_share(rose + fell),
            desirable_reward=_mean([self.beta * m for m in self._kept(moved, True)]),
            undesirable_reward=_mean([self.beta * m for m in self._kept(moved, False)]),
        )
        return {
            "preference": {"kind": "labels", "beta": self.beta, "before": self.before, "after": after},
            "reward_accuracy": after["reward_accuracy"],
            "desirable_rose": after["desirable_rose"],
            "undesirable_fell": after["undesirable_fell"],
        }
