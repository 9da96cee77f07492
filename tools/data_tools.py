"""Tools that look at the user's data and propose a plan."""

from __future__ import annotations

from typing import Any

from tools.context import ToolContext
from tools.validation import check_model_reference
from trainer import planning
from trainer.inspection import inspect_file


def list_files(ctx: ToolContext) -> dict[str, Any]:
    """List the data files uploaded to the workspace, newest first.

    Use it when the user refers to "my file" or "the data" without naming one.
    """
    files = sorted(ctx.workspace.uploads.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return {
        "files": [
            {"name": p.name, "bytes": p.stat().st_size} for p in files if p.is_file() and not p.name.startswith(".")
        ]
    }


def inspect_data(
    ctx: ToolContext, file: str, text_column: str | None = None, label_column: str | None = None
) -> dict[str, Any]:
    """Inspect an uploaded data file: rows, the text and label columns and why, label counts, problems, lengths.

    Args:
        file: Name of an uploaded file in the workspace (as listed by list_files).
        text_column: Column holding the text, only when the user named it.
        label_column: Column holding the label, only when the user named it.
    """
    path = ctx.workspace.resolve(file)
    report = inspect_file(path, text_column=text_column, label_column=label_column)
    report["file"] = path.name
    return report


def propose_plan(
    ctx: ToolContext,
    file: str,
    model: str | None = None,
    epochs: float | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    freeze_layers: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Propose a fine-tuning plan for an uploaded file: base model and hyperparameters, each with a reason,
    plus the estimated run time on this machine. Nothing is started. Pass only the settings the user asked for;
    the others are chosen from the data.

    Args:
        file: Name of an uploaded file in the workspace.
        model: Base model the user asked for (a Hugging Face id or local path); default all-MiniLM-L6-v2.
        epochs: Number of passes over the training split.
        learning_rate: Peak learning rate, e.g. 5e-5.
        batch_size: Examples per optimizer step.
        max_length: Longest input in tokens.
        freeze_layers: Number of lower encoder layers to keep frozen.
        text_column: Column holding the text, only when the user named it.
        label_column: Column holding the label, only when the user named it.
    """
    report = inspect_data(ctx, file, text_column=text_column, label_column=label_column)
    user = {
        "model": check_model_reference(ctx, model),
        "epochs": epochs,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "max_length": max_length,
        "freeze_layers": freeze_layers,
    }
    report["path"] = str(ctx.workspace.resolve(file))
    plan = planning.propose(report, user, gflops=planning.machine_gflops(ctx.workspace.root))
    plan["file"] = report["file"]
    return plan
