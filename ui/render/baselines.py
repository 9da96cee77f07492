"""What a classifier's or regressor's report shows beside the fine-tuned model: the frozen-encoder probe's row, the
epoch kept and why training stopped, and what to do when the probe beat the fine-tune; the plan's push-backs."""

from __future__ import annotations

from typing import Any

from ui.render.safe import prose


def probe_row(evaluation: dict[str, Any]) -> list[Any] | None:
    """The logistic-regression probe's row of the accuracy / macro-F1 table, None when the run has none."""
    probe = evaluation.get("linear_probe") or {}
    if probe.get("accuracy") is None:
        return None
    rows = probe.get("train_rows")
    return [
        f"linear probe (logistic regression on the frozen pretrained encoder, {rows} training rows)",
        probe["accuracy"],
        probe.get("macro_f1"),
    ]


def ridge_row(evaluation: dict[str, Any]) -> list[Any] | None:
    """The ridge probe's row of the RMSE / MAE / R² table, None when the run has none."""
    probe = evaluation.get("ridge_probe") or {}
    if probe.get("rmse") is None:
        return None
    rows = probe.get("train_rows")
    return [
        f"ridge regression on the frozen pretrained encoder ({rows} training rows)",
        probe["rmse"],
        probe.get("mae"),
        probe.get("r2"),
    ]


def closing_lines(evaluation: dict[str, Any]) -> list[str]:
    """The sentence on the kept epoch, then (in bold) the probe's verdict when it beat the fine-tune."""
    lines: list[str] = []
    kept = evaluation.get("best_epoch") or {}
    if kept.get("sentence"):
        lines.append(prose(kept["sentence"]))
    if evaluation.get("probe_verdict"):
        lines.append(f"**{prose(evaluation['probe_verdict'])}**")
    return lines


def render_warnings(plan: dict[str, Any]) -> str:
    """The plan's push-backs, one line each: the user's value kept, why it will hurt, what the planner would use."""
    warnings = plan.get("warnings") or []
    if not warnings:
        return ""
    lines = [f"**Warning:** {prose(warning['sentence'])}" for warning in warnings]
    return "\n\n" + "\n\n".join(lines)
