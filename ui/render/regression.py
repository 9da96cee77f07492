"""A regression run's evaluation as the chat shows it: errors and correlations beside the training-mean baseline."""

from __future__ import annotations

from typing import Any

from ui.render.baselines import closing_lines, ridge_row
from ui.render.format import fmt_number, table
from ui.render.safe import data_text, prose


def is_regression(evaluation: dict[str, Any]) -> bool:
    """True for the evaluation of a model that predicts a number (it reports an RMSE)."""
    return "rmse" in evaluation


def render_regression_evaluation(evaluation: dict[str, Any]) -> str:
    baseline = evaluation.get("baseline") or {}
    target = evaluation.get("target") or {}
    column = f" `{data_text(target['column'])}`" if target.get("column") else ""
    dropped = evaluation.get("duplicates_dropped")
    lines = [
        f"**Run {data_text(evaluation.get('run_id', ''))} on its test split** "
        f"({data_text(evaluation.get('test_size', '?'))} examples"
        + (f"; {dropped} exact repeats were dropped before splitting" if dropped else "")
        + f"), predicting{column} in its own units:",
        "",
        table(
            ["", "RMSE", "MAE", "R²"],
            [
                ["fine-tuned model", evaluation.get("rmse"), evaluation.get("mae"), evaluation.get("r2")],
                [
                    f"baseline (always the training mean, {fmt_number(baseline.get('prediction'))})",
                    baseline.get("rmse"),
                    baseline.get("mae"),
                    baseline.get("r2"),
                ],
                *[row for row in [ridge_row(evaluation)] if row],
            ],
        ),
        "",
        f"Spearman correlation {fmt_number(evaluation.get('spearman'))}, Pearson "
        f"{fmt_number(evaluation.get('pearson'))} (1 is a perfect ordering or line).",
    ]
    closing = closing_lines(evaluation)
    if closing:
        lines += ["", "\n\n".join(closing)]
    if evaluation.get("left_out"):
        lines += ["", prose(str(evaluation["left_out"]))]
    return "\n".join(lines)
