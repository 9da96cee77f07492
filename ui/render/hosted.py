"""Hosted fine-tuning jobs as the chat shows them: the plan with its cost, and the job's progress."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, table
from ui.render.safe import code, data_text, prose


def render_hosted_plan(plan: dict[str, Any]) -> str:
    hyper = plan.get("hyperparameters") or {}
    counts = plan.get("counts") or {}
    cost = plan.get("estimated_cost_usd")
    price = plan.get("price_per_million_tokens")
    # Every provider's plan names its company; a plan saved before they did was OpenAI's, the only one then.
    provider = str(plan.get("provider") or "OpenAI")
    rows: list[list[Any]] = [
        [
            "model",
            data_text(plan.get("model")),
            f"fine-tuned through the {data_text(provider)} API at {data_text(plan.get('endpoint'))}",
        ],
        ["method", data_text(plan.get("method")), prose(plan.get("method_reason", ""))],
        ["epochs", hyper.get("n_epochs"), f"about {data_text(plan.get('estimated_epochs'))} for the estimate"],
        ["batch size", hyper.get("batch_size"), ""],
    ]
    # Each provider's own settings: only those its plan has.
    rows += [
        [label, hyper[key], note]
        for key, label, note in (
            ("learning_rate_multiplier", "learning-rate multiplier", ""),
            ("learning_rate", "learning rate", ""),
            ("training_type", "training", "LoRA adapters or all weights"),
        )
        if key in hyper
    ]
    if plan.get("upload_format"):
        rows.append(["upload format", data_text(plan["upload_format"]), "the JSONL records uploaded"])
    rows += [
        ["suffix", data_text(plan.get("suffix")), "added to the fine-tuned model's name"],
        [
            "examples (train/validation/test)",
            f"{counts.get('train')}/{counts.get('validation')}/{counts.get('test')}",
            "the test split is held out to evaluate the tuned model"
            if counts.get("test")
            else "the validation split, the one a local run of this file holds out, evaluates the tuned model",
        ],
        ["training tokens", plan.get("train_tokens"), "approximate, per epoch"],
    ]
    if cost is not None:
        when = (
            f"Estimated cost: **about ${cost:.2f}** ({plan.get('billed_tokens')} billed tokens at ${price} per 1M, "
            f"{prose(plan.get('price_source'))})."
        )
    else:
        when = "No cost estimate: the price of this model is unknown."
    notes = "".join(f"\n- {prose(note)}" for note in plan.get("notes") or [])
    what = data_text(plan.get("task"))
    if plan.get("labels"):
        labels = ", ".join(data_text(label) for label in plan["labels"])
        what = f"classification into {labels}, converted to chat examples"
    return (
        f"**{data_text(provider)} fine-tuning plan** for {code(plan.get('file'))} ({what}):\n\n"
        + table(["setting", "value", "note"], rows)
        + f"\n\n{when}"
        + notes
    )


def render_hosted_progress(status: dict[str, Any], since: int = 0) -> str:
    """The new job events since the last look, the latest metrics, checkpoints and the tuned model."""
    lines = []
    events = (status.get("events") or [])[since:]
    if events:
        lines.append("\n\nEvents:\n" + "\n".join(f"- {data_text(event.get('message'))}" for event in events[-15:]))
    metrics = [
        ("training loss", status.get("loss")),
        ("validation loss", status.get("valid_loss")),
        ("training token accuracy", status.get("train_mean_token_accuracy")),
        ("validation token accuracy", status.get("valid_mean_token_accuracy")),
    ]
    known = [f"{name} {fmt_number(value)}" for name, value in metrics if value is not None]
    if known:
        lines.append("\n\nLatest metrics: " + ", ".join(known) + ".")
    if status.get("checkpoints"):
        lines.append(f"\n\nCheckpoints saved by the provider: {data_text(status['checkpoints'])}.")
    if status.get("fine_tuned_model"):
        lines.append(f"\n\nFine-tuned model: {code(status['fine_tuned_model'])}.")
    return "".join(lines)
