"""A plan: the resolved config of a run that has not started, with a reason for each choice."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trainer.core.records import Record


@dataclass(frozen=True, eq=False)
class PlanRow:
    """One line of the plan table the chat shows: a setting, its value and why."""

    setting: str
    value: Any
    reason: str


@dataclass(frozen=True, eq=False)
class Plan(Record):
    """What a task's planner proposes for a data file (nothing runs until the user agrees)."""

    # The full run config (trainer/plan/config.py RunConfig.to_dict()), exactly what would be launched.
    config: dict[str, Any]
    # Why each setting was chosen, by setting name ("You asked for this." for the user's own).
    reasons: dict[str, str]
    # Wall-clock estimate on this machine; None when the model's size is unknown before loading it.
    estimate_seconds: float | None = None
    # Usable examples in the data.
    rows: int = 0
    # The data file's name as the chat shows it.
    file: str = ""
    # The table the chat shows, in order: the settings that matter for this task.
    table: list[PlanRow] = field(default_factory=list)
    # What the run reads from the data, e.g. "text `SMS`, label `Label`" (empty when nothing to say).
    subject: str = ""
    # Task-specific extras kept in the JSON (e.g. "docs" of settings, hardware "choices").
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["table"] = [[row.setting, row.value, row.reason] for row in self.table]
        return data

    def with_file(self, name: str) -> Plan:
        return replace(self, file=name)


def with_first_use(plan: Plan, root: Path | None = None) -> Plan:
    """The plan with a note on its model when that is an offline catalog model not on this machine yet: the run
    installs and converts it before loading, and the user sees that (size, licence) before saying yes."""
    from trainer.models.catalog import first_use_note

    model = plan.config.get("model")
    note = first_use_note(str(model), root) if model else None
    if note is None:
        return plan
    sentence = note[0].upper() + note[1:]

    def noted(reason: str) -> str:
        return f"{reason} {sentence}".strip()

    table = [replace(row, reason=noted(row.reason)) if row.value == model else row for row in plan.table]
    return replace(plan, reasons={**plan.reasons, "model": noted(plan.reasons.get("model", ""))}, table=table)
