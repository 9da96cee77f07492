"""How much general ability a fine-tuned language model lost, from figures measured before and after training.

Three figures on data the run never saw (trainer/evaluate/general/): perplexity on general text, the KL divergence
KL(base || tuned) of the next-token distribution on general prompts, and how many general questions the model still
answers right. Beyond a threshold the verdict is "flagged": one sentence says what was lost and a remedy names the
changes of a ready plan (more general data mixed in, a lower learning rate, fewer epochs).

Pure Python: the measuring (torch) is in trainer/tasks/causal_lm/forgetting.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# The base model's next-token distribution is kept as its TOP_K most likely tokens and the mass of all the others.
TOP_K = 64
# Thresholds: general-text perplexity up by more than this share ...
PERPLEXITY_RISE = 0.20
# ... or at least this many general questions the base model answered right and the tuned model no longer does, and
# at least this share of those the base model answered right (so one question of a handful does not flag a run).
# Lost answers count, not the net change: a run that forgets Paris and by chance now names Rome has still forgotten.
# On the SmolLM2 identity run the net change was one question (23 -> 22) while five answers were lost ...
ANSWERS_LOST = 2
ANSWERS_LOST_SHARE = 0.10
# ... or a mean KL(base || tuned) above this many nats on the general prompts. A light LoRA run moves a small model's
# first-token distribution by a few hundredths; a run that answers everything with its new identity by more than 1.
KL_LIMIT = 0.5
# The share of training rows the remedy fills with replay of the base model's own general answers.
REMEDY_MIX = 0.25
# Probabilities below this are treated as this, so a token the tuned model rules out gives a large, finite KL.
FLOOR = 1e-12


def kl_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """KL(p || q) in nats of two distributions over the same outcomes (0 when they are equal)."""
    return sum(pi * (math.log(pi) - math.log(max(qi, FLOOR))) for pi, qi in zip(p, q, strict=True) if pi > 0)


def kl_from_top_k(base_logps: Sequence[float], base_tail: float, tuned_logps: Sequence[float]) -> float:
    """KL(base || tuned) over the base model's top-k tokens plus one outcome for every other token.

    `base_logps` and `tuned_logps` are both models' log-probabilities of the same k tokens (the base model's most
    likely), `base_tail` the base model's probability of all the rest. Merging the tail into one outcome can only
    lower a KL divergence, so this is a lower bound of the full one, equal to it when the tail is empty.
    """
    p = [math.exp(value) for value in base_logps]
    q = [math.exp(value) for value in tuned_logps]
    tuned_tail = max(1.0 - sum(q), FLOOR)
    return max(0.0, kl_divergence([*p, max(base_tail, 0.0)], [*q, tuned_tail]))


def answered(reply: str, answers: Sequence[str]) -> bool:
    """True when the reply contains one of the expected answers (ignoring case)."""
    text = reply.casefold()
    return any(answer.casefold() in text for answer in answers)


def _same(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def figures(before: Mapping[str, Any], after: Mapping[str, Any], kls: Sequence[float]) -> dict[str, Any]:
    """The figures of one run: perplexity before and after, the KL per prompt summarised, the questions.

    `before` and `after` hold "perplexity", "questions" (the question texts), "expected" (the answers that count,
    per question) and "replies" (the model's greedy reply per question).
    """
    expected = before["expected"]
    right_before = [answered(r, e) for r, e in zip(before["replies"], expected, strict=True)]
    right_after = [answered(r, e) for r, e in zip(after["replies"], expected, strict=True)]
    questions = list(before["questions"])
    ppl_before, ppl_after = float(before["perplexity"]), float(after["perplexity"])
    return {
        "perplexity_before": round(ppl_before, 3),
        "perplexity_after": round(ppl_after, 3),
        "perplexity_rise": round(ppl_after / ppl_before - 1.0, 4) if ppl_before > 0 else None,
        "kl_mean": round(sum(kls) / len(kls), 4) if kls else None,
        "kl_max": round(max(kls), 4) if kls else None,
        "kl_prompts": len(kls),
        "questions": len(questions),
        "right_before": sum(right_before),
        "right_after": sum(right_after),
        "same_as_base": sum(_same(a, b) for a, b in zip(before["replies"], after["replies"], strict=True)),
        "lost": [q for q, b, a in zip(questions, right_before, right_after, strict=True) if b and not a],
        "gained": [q for q, b, a in zip(questions, right_before, right_after, strict=True) if a and not b],
    }


def crossed(found: Mapping[str, Any]) -> list[str]:
    """Which thresholds the figures crossed: "perplexity", "questions", "kl"."""
    reasons = []
    if (found.get("perplexity_rise") or 0.0) > PERPLEXITY_RISE:
        reasons.append("perplexity")
    lost = len(found.get("lost") or [])
    if lost >= ANSWERS_LOST and lost >= ANSWERS_LOST_SHARE * int(found["right_before"]):
        reasons.append("questions")
    if (found.get("kl_mean") or 0.0) > KL_LIMIT:
        reasons.append("kl")
    return reasons


def _quoted(questions: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(f"“{q}”" for q in questions[:limit])
    return shown + (f" and {len(questions) - limit} more" if len(questions) > limit else "")


def sentence(found: Mapping[str, Any], reasons: Sequence[str]) -> str:
    """One sentence: what general ability was lost (or that it held)."""
    rise = found.get("perplexity_rise")
    ppl = (
        f"perplexity on general text {'rose' if (rise or 0) >= 0 else 'fell'} {abs(rise or 0):.0%} "
        f"({found['perplexity_before']:.3g} → {found['perplexity_after']:.3g})"
    )
    kl = f"the next-token distribution on general prompts moved by KL {found.get('kl_mean') or 0:.3g} nats on average"
    right = f"{found['right_after']} of {found['questions']} general questions right"
    right += f" (the base model: {found['right_before']})"
    lost = found.get("lost") or []
    if not reasons:
        # Below every threshold, but a lost answer is still named: people notice exactly those.
        missing = f", though no longer {_quoted(lost)}" if lost else ""
        return f"General ability held: {ppl}, {kl}, and it answers {right}{missing}."
    parts = [ppl if "perplexity" in reasons else "", kl if "kl" in reasons else ""]
    if "questions" in reasons or lost:
        parts.append(f"it answers {right}" + (f", no longer {_quoted(lost)}" if lost else ""))
    return "General ability dropped: " + ", ".join(part for part in parts if part) + "."


def _round(value: float) -> float:
    return float(f"{value:.2g}")


def remedy(config: Mapping[str, Any], mixes_general: bool) -> dict[str, Any]:
    """A ready plan against forgetting: the setting changes of a new run like this one, and what each is for.

    SFT mixes the base model's own answers to general prompts into the training rows (`general_mix`); every task
    halves the learning rate; the preference tasks also double beta (which keeps the model closer to the base); long
    runs (over 3 epochs) train a third fewer. A lower LoRA rank is offered as the next step, not applied at once.
    """
    changes: dict[str, Any] = {}
    steps = []
    if mixes_general:
        mix = max(REMEDY_MIX, min(0.5, 2 * float(config.get("general_mix") or 0.0)))
        changes["general_mix"] = mix
        steps.append(
            f"mix general data into training at {mix:.0%} of the rows (the base model's own answers to general "
            "prompts, so it rehearses what it knew)"
        )
    else:
        beta = _round(2 * float(config.get("dpo_beta") or 0.1))
        changes["dpo_beta"] = beta
        steps.append(f"raise beta to {beta:g} (keeps the model closer to the base model)")
    lr = float(config.get("learning_rate") or 0.0)
    if lr > 0:
        changes["learning_rate"] = _round(lr / 2)
        steps.append(f"halve the learning rate to {changes['learning_rate']:g}")
    epochs = float(config.get("epochs") or 0.0)
    if epochs > 3 and not config.get("max_steps"):
        changes["epochs"] = float(max(3, round(epochs * 2 / 3)))
        steps.append(f"train {changes['epochs']:g} epochs instead of {epochs:g}")
    rank = int(config.get("lora_r") or 0)
    method = str(config.get("method") or "")
    then = (
        f"if it still forgets, lower the LoRA rank to {max(4, rank // 2)}"
        if "lora" in method and rank > 4
        else "if it still forgets, train fewer epochs"
    )
    return {"changes": changes, "summary": "; ".join(steps) + ".", "next_step": then + "."}


def verdict(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    kls: Sequence[float],
    config: Mapping[str, Any],
    mixes_general: bool,
) -> dict[str, Any]:
    """evaluation.json's "forgetting" record: the figures, the thresholds, flagged or not, the sentence and, when
    flagged, the remedy."""
    found = figures(before, after, kls)
    reasons = crossed(found)
    record: dict[str, Any] = {
        **found,
        "thresholds": {
            "perplexity_rise": PERPLEXITY_RISE,
            "answers_lost": ANSWERS_LOST,
            "answers_lost_share": ANSWERS_LOST_SHARE,
            "kl_mean": KL_LIMIT,
        },
        "flagged": bool(reasons),
        "crossed": reasons,
        "sentence": sentence(found, reasons),
    }
    if reasons:
        record["remedy"] = remedy(config, mixes_general)
    return record
