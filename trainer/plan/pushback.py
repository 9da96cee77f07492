"""The planner's push-back: when a setting the user named will clearly hurt the run (far too few optimizer steps
for the data, a learning rate a hundred times off what the method usually trains at), the plan still uses the
user's value but carries a warning with the reason and the value the planner would use instead; the user's yes
starts the run as asked.

The rules read only plan configs (the user's plan and the plan the task proposes without the user's training
settings), so they apply to every task alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from trainer.core.errors import UserError
from trainer.plan.plan import Plan

# The settings the rules judge; the planner's own choice of each is what the warning offers instead.
WATCHED = ("epochs", "learning_rate", "batch_size", "max_steps", "gradient_accumulation_steps")
# Fewer optimizer steps than this, and at most half of what the planner would train, is clearly too short: a new
# head and a pretrained model need a few dozen updates to settle (seen: 20 steps on 160 reviews, macro-F1 0.56,
# where a frozen encoder with logistic regression reached 0.85).
MIN_STEPS = 50
# A learning rate this many times above (or below) the planner's for the same method and model is clearly off.
RATE_FACTOR = 100


@dataclass(frozen=True)
class PushBack:
    """One pushed-back setting: the user's value, what the planner would use, and why."""

    setting: str
    value: Any
    instead: Any
    reason: str

    def sentence(self) -> str:
        return (
            f"You asked for {self.setting.replace('_', ' ')} {_show(self.value)}: {self.reason}. I would use "
            f"{_show(self.instead)}; the plan keeps your value, so a yes starts it as you asked."
        )


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _training_rows(plan: Plan) -> int:
    share = 1.0 - float(plan.config.get("val_fraction") or 0) - float(plan.config.get("test_fraction") or 0)
    return round(plan.rows * max(0.0, share))


def optimizer_steps(config: dict[str, Any], rows: int) -> int:
    """The optimizer steps a plan trains: max_steps when set, else epochs over the training share of `rows`."""
    if config.get("max_steps"):
        return int(config["max_steps"])
    share = max(0.0, 1.0 - float(config.get("val_fraction") or 0) - float(config.get("test_fraction") or 0))
    batch = int(config.get("batch_size") or 1) * int(config.get("gradient_accumulation_steps") or 1)
    return max(1, math.ceil(math.ceil(rows * share / batch) * float(config.get("epochs") or 1)))


def too_few_steps(plan: Plan, default: Plan, asked: dict[str, Any]) -> list[PushBack]:
    if not {"epochs", "batch_size", "max_steps", "gradient_accumulation_steps"} & set(asked) or plan.rows <= 0:
        return []
    steps, usual = optimizer_steps(plan.config, plan.rows), optimizer_steps(default.config, default.rows)
    if steps >= MIN_STEPS or steps * 2 > usual:
        return []
    setting = next(key for key in ("epochs", "max_steps", "batch_size", "gradient_accumulation_steps") if key in asked)
    return [
        PushBack(
            setting,
            plan.config.get(setting),
            default.config.get(setting),
            f"that is only {steps} optimizer steps ({_training_rows(plan)} training rows in batches of "
            f"{plan.config.get('batch_size')}), too few for the model to settle on this data "
            f"(the plan's value gives {usual} steps, and early stopping keeps the best epoch if it needs fewer)",
        )
    ]


def learning_rate_off(plan: Plan, default: Plan, asked: dict[str, Any]) -> list[PushBack]:
    rate, usual = plan.config.get("learning_rate"), default.config.get("learning_rate")
    if "learning_rate" not in asked or not rate or not usual:
        return []
    ratio = float(rate) / float(usual)
    if ratio >= RATE_FACTOR:
        why = (
            f"that is {ratio:.0f} times the {_show(float(usual))} this model and method usually train at, so the loss "
            "is likely to jump or turn NaN and the pretrained weights to be wrecked"
        )
    elif ratio <= 1 / RATE_FACTOR:
        why = (
            f"that is {1 / ratio:.0f} times below the {_show(float(usual))} this model and method usually train at, "
            "so the weights will barely move"
        )
    else:
        return []
    return [PushBack("learning_rate", rate, usual, why)]


RULES: tuple[Callable[[Plan, Plan, dict[str, Any]], list[PushBack]], ...] = (too_few_steps, learning_rate_off)


def _canonical(settings: dict[str, Any]) -> dict[str, Any]:
    from trainer.plan.config import canonical_key

    named: dict[str, Any] = {}
    for key, value in settings.items():
        try:
            named[canonical_key(key)] = value
        except UserError:
            named[key] = value
    return named


def push_back(plan: Plan, settings: dict[str, Any], propose: Callable[[dict[str, Any]], Plan]) -> Plan:
    """`plan` with a warning for each watched setting the user named that will clearly hurt the run.

    `propose(settings)` is the task's planner for the same data; it is asked (once) for the plan without the
    user's training settings only when the user named one.
    """
    named = _canonical(settings)
    asked = {key: named[key] for key in WATCHED if named.get(key) is not None}
    if not asked or plan.extra.get("question"):
        return plan
    default = propose({key: value for key, value in named.items() if key not in WATCHED})
    found = [warning for rule in RULES for warning in rule(plan, default, asked)]
    if not found:
        return plan
    reasons = dict(plan.reasons)
    for warning in found:
        reasons[warning.setting] = f"{reasons.get(warning.setting, '')} Warning: {warning.reason}.".strip()
    shown = {warning.setting.replace("_", " "): warning for warning in found}
    table = [
        replace(row, reason=f"{row.reason} Warning: {shown[row.setting].reason}.".strip())
        if row.setting in shown
        else row
        for row in plan.table
    ]
    extra = {**plan.extra, "warnings": [{**asdict(w), "sentence": w.sentence()} for w in found]}
    return replace(plan, reasons=reasons, table=table, extra=extra)
