"""What two runs' curves say, and the one next run they suggest, by stated rules.

A curve is read from the run's metrics.jsonl: still improving at its end, overfitting (validation loss rising while
training loss falls), levelled off, or too short to read. The next run starts from the winner's config and changes
one thing, with the reason: fewer epochs when it overfitted; the one setting the runs differed in pushed one step
further in the direction that won; more epochs when it was still improving; another seed when the seed was the only
difference. When none of these applies, no run is proposed, and the reason says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# A validation loss this much above its best counts as rising; this much below the one before counts as falling.
RISE = 0.02
FALL = 0.01
# A training loss whose last quarter averages this much below the quarter before is still falling.
TRAIN_FALL = 0.05
# Settings that change nothing the model learns, so a difference in them explains nothing.
NOT_TRAINING = frozenset({"tracker", "suffix", "sample_prompts", "save_steps", "attention", "gradient_checkpointing"})


@dataclass(frozen=True)
class Push:
    """How a numeric setting is pushed one step further: "add" repeats the difference, "mul" repeats the ratio
    (at most 2x either way); the result is kept within [low, high] and made whole when `whole`."""

    how: str
    low: float
    high: float
    whole: bool


PUSHABLE: dict[str, Push] = {
    "epochs": Push("add", 1, 50, False),
    "learning_rate": Push("mul", 1e-7, 1e-2, False),
    "batch_size": Push("mul", 1, 1024, True),
    "freeze_layers": Push("add", 0, 100, True),
    "max_length": Push("mul", 8, 8192, True),
    "lora_r": Push("mul", 1, 512, True),
    "lora_alpha": Push("mul", 1, 1024, True),
    "warmup_ratio": Push("add", 0, 0.5, False),
    "weight_decay": Push("add", 0, 1, False),
    "gradient_accumulation_steps": Push("mul", 1, 256, True),
    "dpo_beta": Push("mul", 0.01, 10, False),
}


def read_curve(run_id: int, log: list[dict[str, Any]]) -> dict[str, Any]:
    """{"run_id", "trend" (improving, overfitting, levelled or unclear), "sentence", "best_epoch"}, read from the
    rows of the run's metrics.jsonl."""
    train = [(int(r["step"]), float(r["loss"])) for r in log if "loss" in r and "step" in r]
    val = [(int(r["step"]), float(r["eval_loss"]), r.get("epoch")) for r in log if "eval_loss" in r and "step" in r]
    found: dict[str, Any] = {"run_id": run_id, "best_epoch": None}
    if len(val) >= 2:
        losses = [loss for _, loss, _ in val]
        best = min(range(len(losses)), key=losses.__getitem__)
        best_step, best_loss, best_epoch = val[best]
        last = losses[-1]
        train_then = _train_loss_at(train, best_step)
        train_fell = train_then is not None and bool(train) and train[-1][1] < train_then
        when = f"epoch {_number(best_epoch)}" if isinstance(best_epoch, int | float) else f"step {best_step}"
        if best < len(losses) - 1 and last > best_loss * (1 + RISE):
            found["best_epoch"] = best_epoch if isinstance(best_epoch, int | float) else None
            if train_fell:
                return {
                    **found,
                    "trend": "overfitting",
                    "sentence": f"run {run_id} overfitted: its validation loss was lowest ({best_loss:.3f}) at {when} "
                    f"and rose to {last:.3f} by the end while its training loss kept falling.",
                }
            return {
                **found,
                "trend": "unclear",
                "sentence": f"run {run_id}'s validation loss was lowest ({best_loss:.3f}) at {when} and rose to "
                f"{last:.3f} by the end, though its training loss did not fall either.",
            }
        if losses[-1] < losses[-2] * (1 - FALL):
            return {
                **found,
                "trend": "improving",
                "sentence": f"run {run_id} was still improving at its end: its validation loss fell from "
                f"{losses[-2]:.3f} to {last:.3f} in its last epoch.",
            }
        return {**found, "trend": "levelled", "sentence": f"run {run_id}'s validation loss levelled off at {last:.3f}."}
    if len(train) >= 8:
        quarter = len(train) // 4
        recent = sum(loss for _, loss in train[-quarter:]) / quarter
        earlier = sum(loss for _, loss in train[-2 * quarter : -quarter]) / quarter
        if recent < earlier * (1 - TRAIN_FALL):
            sentence = (
                f"run {run_id} has no validation curve, but its training loss was still falling at its end "
                f"({earlier:.3f} → {recent:.3f} over its last quarter)."
            )
            return {**found, "trend": "improving", "sentence": sentence}
        return {
            **found,
            "trend": "levelled",
            "sentence": f"run {run_id} has no validation curve; its training loss levelled off at {recent:.3f}.",
        }
    return {**found, "trend": "unclear", "sentence": f"run {run_id} logged too few points to read its curve."}


def _more(first: dict[str, Any], second: dict[str, Any], name: str) -> bool:
    a, b = first.get(name), second.get(name)
    return isinstance(a, int | float) and isinstance(b, int | float) and a > b


def _train_loss_at(train: list[tuple[int, float]], step: int) -> float | None:
    before = [loss for at, loss in train if at <= step]
    return before[-1] if before else None


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def pushed(name: str, winner: Any, loser: Any) -> Any:
    """One more step of `name` from the loser's value through the winner's, in the same direction; None when
    that changes nothing (at a bound, or not numbers)."""
    push = PUSHABLE.get(name)
    if push is None or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (winner, loser)):
        return None
    if push.how == "add":
        value = winner + (winner - loser)
    else:
        if loser <= 0 or winner <= 0:
            return None
        value = winner * min(2.0, max(0.5, winner / loser))
    value = min(push.high, max(push.low, value))
    value = round(value) if push.whole else float(f"{value:.3g}")
    if name == "epochs" and float(value).is_integer():
        value = int(value)
    return None if value == winner else value


def propose_next(
    winner: int,
    configs: dict[int, dict[str, Any]],
    differences: list[str],
    curve: dict[str, Any],
    loser: int,
    loser_curve: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one next run: {"like_run": winner, "changes": {...}, "reason": sentence}; "changes" is empty (and the
    reason says why) when these two runs suggest none. A step the curves contradict is not proposed: fewer epochs
    for a winner still improving, or more for one whose longer rival overfitted."""
    won, lost = configs[winner], configs[loser]
    meaningful = [name for name in differences if name not in NOT_TRAINING]
    trend = curve.get("trend")
    epochs = won.get("epochs")

    def proposal(changes: dict[str, Any], reason: str) -> dict[str, Any]:
        return {"like_run": winner, "changes": changes, "reason": reason}

    if trend == "overfitting" and isinstance(curve.get("best_epoch"), int | float) and isinstance(epochs, int | float):
        fewer = max(1, math.ceil(float(curve["best_epoch"])))
        if fewer < epochs:
            return proposal(
                {"epochs": fewer},
                f"Run {winner} won but overfitted after epoch {fewer}: the same settings with {fewer} epochs "
                f"instead of {_number(epochs)} end at its best validation loss, in less time.",
            )
    if meaningful == ["epochs"] and _more(lost, won, "epochs"):  # the shorter run won (and did not overfit)
        if (loser_curve or {}).get("trend") == "overfitting":
            why = f"run {loser}'s {_number(lost['epochs'])} epochs overfitted, so run {winner}'s {_number(epochs)} are"
            why += " already near the best number of epochs"
        else:
            why = f"run {loser} trained longer ({_number(lost['epochs'])} epochs) and lost, yet run {winner} was "
            why += f"{'still improving' if trend == 'improving' else 'not overfitting'} at its end"
        return proposal(
            {},
            f"The runs differed only in epochs: {why}; neither more nor fewer epochs follows from these two runs, "
            "and another seed would show whether the gap is chance.",
        )
    if len(meaningful) == 1 and meaningful[0] in PUSHABLE:
        name = meaningful[0]
        value = pushed(name, won.get(name), lost.get(name))
        if value is not None:
            shown = f"{name.replace('_', ' ')} {_number(won.get(name))} against {_number(lost.get(name))}"
            why = (
                "and its curve was still improving at its end"
                if trend == "improving"
                else "and its curve had levelled off, so the gain came from that setting rather than from time"
            )
            return proposal(
                {name: value},
                f"The runs differed only in {shown}; run {winner} won {why}. One more step in the same direction "
                f"({name.replace('_', ' ')} {_number(value)}) tests whether it keeps helping.",
            )
    if meaningful == ["seed"]:
        seed = won.get("seed")
        other = max(int(seed or 0), int(lost.get("seed") or 0)) + 1
        return proposal(
            {"seed": other},
            f"The runs differed only in their seed, so the gap between them is the noise of the split and the "
            f"initialisation; a third seed ({other}) shows how large that noise is before any setting is changed.",
        )
    if trend == "improving" and isinstance(epochs, int | float):
        more = min(50, math.ceil(float(epochs) * 2))
        if more > epochs:
            several = (
                f"The runs differ in {len(meaningful)} settings at once ({', '.join(meaningful)}), so which one "
                "helped cannot be told apart; but "
                if len(meaningful) > 1
                else ""
            )
            return proposal(
                {"epochs": more},
                f"{several}run {winner} was still improving when it ended, so it should gain from training longer: "
                f"{more} epochs instead of {_number(epochs)}.",
            )
    if not meaningful:
        reason = f"Runs {winner} and {loser} have the same settings, so there is no direction to push."
    elif len(meaningful) > 1:
        reason = (
            f"The runs differ in {len(meaningful)} settings at once ({', '.join(meaningful)}) and run {winner} was not "
            "still improving, so these two runs point to no single change; vary one setting at a time to learn more."
        )
    else:
        reason = (
            f"The runs differ only in {meaningful[0].replace('_', ' ')}, which has no direction to push, and run "
            f"{winner} was not still improving, so no next run follows from these two."
        )
    return proposal({}, reason)
