"""Propose a text-regression run for a data file: each setting with a reason tied to the data, and a time estimate.

The estimate is the text classifier's (trainer/tasks/text_classification/plan.py): the same encoder does the same
work per token whatever its head predicts.
"""

from __future__ import annotations

from typing import Any

from trainer.evaluate.selection import propose_patience
from trainer.plan.config import BUNDLED_MODEL, field_doc, resolve_config
from trainer.tasks.text_classification.plan import (
    BUNDLED_COMPUTE_PARAMETERS,
    PADDING_FACTOR,
    batch_and_length,
    estimate_seconds,
    machine_gflops,
)
from trainer.tasks.text_regression.data import TARGET_BINS


def propose(
    report: dict[str, Any], task: str, user: dict[str, Any] | None = None, *, gflops: float | None = None
) -> dict:
    """The resolved config, a reason per choice, and a time estimate, from a regression inspection report.

    `task` is the regression task's name; `user` holds what the user asked for, which always wins over what is
    proposed here.
    """
    rows = int(report.get("usable_rows") or report.get("rows") or 0)
    p95_tokens = int((report.get("length_tokens") or {}).get("p95") or 64)
    mean_tokens = float((report.get("length_tokens") or {}).get("mean") or p95_tokens / 2)
    target = report.get("target") or {}
    column = report.get("label_column")
    pair_column = report.get("text_pair_column") or ""
    if pair_column:
        # The lengths are measured on the first text; a pair is read as one input of both texts.
        p95_tokens, mean_tokens = 2 * p95_tokens, 2 * mean_tokens

    proposed: dict[str, Any] = {
        "data": report.get("path") or report.get("file"),
        "task": task,
        "text_column": report.get("text_column"),
        "label_column": column,
        "text_pair_column": pair_column,
    }
    reasons: dict[str, str] = {}
    proposed["model"] = BUNDLED_MODEL
    reasons["model"] = (
        "all-MiniLM-L6-v2 is small (22 M parameters), pretrained on sentences and trains fast on a CPU; "
        "a one-number head on top predicts the score."
    )
    # A number carries less signal per example than a class, and a fresh head starting from zero needs more passes.
    if rows < 1000:
        proposed["epochs"] = 6
        reasons["epochs"] = f"{rows} rows is small, and a new one-number head needs several passes to fit the scale."
    elif rows < 20000:
        proposed["epochs"] = 3
        reasons["epochs"] = f"With {rows} rows, three passes fit the score without memorising the training texts."
    else:
        proposed["epochs"] = 1
        reasons["epochs"] = f"{rows} rows give enough steps in one pass and keep the run short on this machine."
    proposed["learning_rate"] = 1e-4
    reasons["learning_rate"] = (
        "Small encoders like MiniLM fine-tune well at 1e-4; the target is standardised, so its scale does not change "
        "this."
    )
    batch_and_length(rows, p95_tokens, bool(pair_column), proposed, reasons)
    proposed["val_fraction"], proposed["test_fraction"] = 0.1, 0.1
    reasons["split"] = (
        f"80/10/10 with seed 42, drawn from each fifth of the range of '{column}' "
        f"({_number(target.get('min'))} to {_number(target.get('max'))}), so every split has low and high values."
    )
    reasons["target"] = (
        f"Standardised with the training split's mean and standard deviation (about {_number(target.get('mean'))} "
        f"and {_number(target.get('std'))} on the whole file) so the head learns numbers near 0; every prediction "
        "and metric is reported in the original units."
    )
    propose_patience(proposed, reasons, user)
    config = resolve_config(proposed, user)
    for key, value in (user or {}).items():
        if value is not None:
            reasons[key] = "You asked for this."
    train_rows = rows * (1 - config.val_fraction - config.test_fraction)
    estimate = estimate_seconds(
        train_rows=train_rows,
        eval_rows=rows - train_rows,
        epochs=config.epochs,
        tokens_per_row=min(mean_tokens * PADDING_FACTOR, config.max_length),
        gflops=gflops if gflops is not None else machine_gflops(),
        parameters=BUNDLED_COMPUTE_PARAMETERS if config.model == BUNDLED_MODEL else None,
    )
    return {
        "config": config.to_dict(),
        "reasons": reasons,
        "docs": {name: field_doc(name) for name in ("epochs", "learning_rate", "batch_size", "max_length")},
        "estimate_seconds": estimate,
        "rows": rows,
        "bins": TARGET_BINS,
    }


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "?"
