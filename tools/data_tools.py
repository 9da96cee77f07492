"""Tools that look at the user's data and propose a plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.dry_run_tools import with_dry_run_offer
from tools.launch import TRAIN
from tools.session_files import chat_datasets, chat_uploads, record_dataset, resolve_file
from tools.validation import check_model_reference
from trainer.inspection.isolated import inspect_upload
from trainer.plan.plan import Plan, with_first_use
from trainer.plan.pushback import push_back
from trainer.tasks.base import PlanRequest
from trainer.tasks.registry import get_task, task_for_data
from trainer.tasks.tracking import check_tracker


def list_files(ctx: ToolContext) -> dict[str, Any]:
    """List the data files uploaded to this chat (newest first) and the datasets prepared from them.

    Use it when the user refers to "my file" or "the data" without naming one.
    """
    files = [{"name": p.name, "bytes": p.stat().st_size} for p in chat_uploads(ctx)]
    datasets = chat_datasets(ctx)
    return {"files": files, **({"datasets": datasets} if datasets else {})}


def inspect_data(
    ctx: ToolContext,
    file: str,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """Inspect an uploaded data file: the task it suits (classification, regression, chat SFT, preference pairs,
    KTO, images in class folders, ...) and the columns used, rows, label counts, problems with line numbers and
    fixes, token lengths (for images: sizes, skipped files, copies and a contact sheet).

    Args:
        file: Name of an uploaded file in the workspace (as listed by list_files).
        text_column: Column holding the text, only when the user named it.
        label_column: Column holding the label, only when the user named it.
        task: Only when the user says what the data is for, e.g. regression or text-classification.
    """
    path = resolve_file(ctx, file)
    # A large or compressed upload is read in a memory-limited child process, so it cannot exhaust the chat's.
    report = inspect_upload(path, text_column=text_column, label_column=label_column, task=task)
    report["file"] = path.name
    return report


def plan_training(
    ctx: ToolContext,
    file: str,
    task: str | None = None,
    model: str | None = None,
    **settings: Any,
) -> Plan:
    """The plan for training on a file (the task named, else the one its data is for), without storing it."""
    path = resolve_file(ctx, file)
    named = {key: value for key, value in settings.items() if value is not None}
    if named.get("tracker"):
        check_tracker(str(named["tracker"]))  # refused now, not when the user says yes
    if model is not None:
        named["model"] = check_model_reference(ctx, model)
    columns_named = bool(named.get("text_column") or named.get("label_column"))
    chosen = task_for_data(path, task, columns_named=columns_named)

    def propose(settings: dict[str, Any]) -> Plan:
        return chosen.propose(PlanRequest(path, settings, cache_dir=ctx.workspace.root))

    return with_first_use(push_back(propose(named), named, propose), ctx.workspace.root)


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
    task: str | None = None,
    method: str | None = None,
    group_split: bool | None = None,
    placeholders: dict[str, str] | None = None,
    sample_prompts: list[str] | None = None,
    tracker: str | None = None,
) -> Plan:
    """Propose a fine-tuning plan for an uploaded file: base model and hyperparameters, each with a reason,
    plus the estimated run time on this machine. Nothing is started. Pass only the settings the user asked for;
    the others are chosen from the data.

    Args:
        file: Name of an uploaded file in the workspace.
        model: Base model the user asked for (a Hugging Face id or local path); default chosen for the data
            (all-MiniLM-L6-v2 for texts, efficientnet-lite0 for images, whisper-base for sounds).
        epochs: Number of passes over the training split.
        learning_rate: Peak learning rate, e.g. 5e-5.
        batch_size: Examples per optimizer step.
        max_length: Longest input in tokens.
        freeze_layers: Number of lower encoder layers to keep frozen.
        text_column: Column holding the text, only when the user named it.
        label_column: Column holding the label, only when the user named it.
        task: text-classification (texts or text pairs with a label), text-regression (texts with a number),
            image-classification, audio-classification, sft (chats/instructions), dpo (preference pairs), orpo
            (preference pairs, for a base model not yet instruction-tuned) or kto (answers marked good or bad);
            default from the data.
        method: full, freeze, lora or qlora (4-bit, CUDA only); for the language-model tasks the default is lora.
        group_split: False only when the user wants images or sounds split by file although their names carry
            speakers or other groups (the plan then holds out whole groups).
        placeholders: Values for {{placeholders}} in chat data, only those the user gave, e.g. {"name": "Nova",
            "author": "Acme"} for "make the model say it is Nova, made by Acme"; the upload stays unchanged.
        sample_prompts: Prompts the model answers before and after training, only when the user asked for some.
        tracker: Experiment tracker the run also logs to, only when the user named one: tensorboard (the default
            when installed), mlflow, trackio or none.
    """
    from tools.pending import drop_pending, pending_action, propose_action
    from tools.wording import settings_line

    # A deployment or deletion proposed earlier must not run on the next "yes", even if this plan fails; an earlier
    # training plan stays until this one replaces it (a refused change leaves the plan shown before).
    waiting = pending_action(ctx)
    if waiting is not None and waiting["kind"] != TRAIN:
        drop_pending(ctx)
    plan = plan_training(
        ctx,
        file,
        task=task,
        model=model,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        freeze_layers=freeze_layers,
        text_column=text_column,
        label_column=label_column,
        method=method,
        group_split=group_split,
        placeholders=placeholders,
        sample_prompts=sample_prompts,
        tracker=tracker,
    )
    if plan.extra.get("question"):
        # The data's placeholders have no values yet: a yes could not start this plan, so none waits for one.
        drop_pending(ctx)
        return plan
    summary = f"Train {get_task(str(plan.config['task'])).title} on {plan.file}: {settings_line(plan.config)}"
    arguments = {"config": plan.config, "estimate_seconds": plan.estimate_seconds}
    propose_action(ctx, TRAIN, arguments, summary)
    return with_dry_run_offer(plan)


def prepare_data(
    ctx: ToolContext,
    file: str,
    task: str | None = None,
    dedupe: bool = False,
    split: str | None = None,
    to: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Repair, convert and split an uploaded file into a new prepared dataset in the workspace (the upload is
    never changed): drops unreadable, empty and broken rows, optionally duplicates, converts Alpaca, ShareGPT or
    prompt/completion records to OpenAI chat messages, and splits. Returns what was done with counts before and
    after and sample rows.

    Args:
        file: Name of an uploaded file in the workspace.
        task: Only when the user says what the data is for: text-classification, regression, sft, preference, kto.
        dedupe: True to drop exact duplicates (the user asked to remove duplicates or clean up).
        split: Train, validation and test fractions like "0.8,0.1,0.1", only when the user asked to split.
        to: "chat-jsonl" to turn labelled texts into chat examples, only when the user asked for chat format.
        text_column: Column holding the text, only when the user named it.
        label_column: Column holding the label, only when the user named it.
    """
    from trainer.data.prepare import prepare_dataset

    path = resolve_file(ctx, file)
    manifest = prepare_dataset(
        path,
        ctx.workspace,
        task=task,
        text_column=text_column,
        label_column=label_column,
        dedupe=dedupe,
        split=split,
        to=to,
    )
    record_dataset(ctx, Path(manifest["path"]))  # the prepared copy belongs to this chat, like its upload
    folder = Path(manifest["path"]).relative_to(ctx.workspace.root).as_posix()
    manifest["folder"] = folder
    main = "train" if "train" in manifest["files"] else next(iter(manifest["files"]))
    manifest["data_file"] = f"{folder}/{manifest['files'][main]}"
    return manifest
