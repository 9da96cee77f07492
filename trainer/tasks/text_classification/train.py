"""One local text-classification run, start to finish, in the current process.

Reads runs/run-<id>/config.json and writes everything else in that folder (see the run folder
contract): splits, metrics.jsonl and progress.json while training, then the final model,
evaluation.json and plots. The registry row follows along: running -> succeeded | failed | cancelled.

A SIGTERM means "stop": inside the training loop it is honoured at the next step boundary (so the
process exits cleanly); before or after the loop it interrupts at once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from trainer.backends.local import resolve_data_path
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text, read_jsonl
from trainer.data.columns import pick_columns
from trainer.data.examples import usable_examples
from trainer.data.read import load_table
from trainer.data.splits import split_labelled_texts
from trainer.evaluate.metrics import classification_metrics, classification_summary, majority_baseline
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks.guards import LossGuard
from trainer.tasks.progress import ProgressWriter, error_details, failure_message, fetch_model, log
from trainer.tasks.text_classification.callbacks import RunCallback, StopFlag

# About this many training-loss points per run, so the loss curve and the progress bar move smoothly.
LOG_POINTS = 25


class RunCancelled(BaseException):
    """Raised when a stop was requested; a BaseException so library code catching Exception lets it through."""


def _saved_config(run_dir: Path) -> RunConfig | None:
    try:
        return RunConfig.load(run_dir / "config.json")
    except (OSError, ValueError, UserError):
        return None


def train_run(run_dir: Path, registry: Registry, run_id: int) -> dict[str, Any]:
    """Train, evaluate and record run `run_id`; return its result (status and metrics).

    On failure the run is marked failed (with one sentence in `error`) and the exception re-raised;
    on a stop request it is marked cancelled and {"status": "cancelled"} returned.
    """
    run_dir = Path(run_dir)
    flag = StopFlag()
    progress = ProgressWriter(run_dir)

    def on_sigterm(signum: int, frame: Any) -> None:
        flag.requested = True
        if not flag.in_training_loop:
            raise RunCancelled()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        progress.write(phase="loading")
        registry.update_run(run_id, status="running", pid=os.getpid(), error=None)
        result = _train(run_dir, registry, run_id, flag, progress)
        log(f"run {run_id} succeeded: {json.dumps(result['metrics'])}")
        return result
    except (RunCancelled, KeyboardInterrupt) as stop:
        log(f"run {run_id} stopped on request")
        registry.update_run(run_id, status="cancelled", error="Stopped on request before it finished.")
        progress.write(phase="cancelled", eta_s=None)
        signal_name = "SIGINT" if isinstance(stop, KeyboardInterrupt) else "SIGTERM"
        return {"status": "cancelled", "run_id": run_id, "signal": signal_name}
    except BaseException as error:
        import torch

        message = failure_message(error, _saved_config(run_dir), "cuda" if torch.cuda.is_available() else "cpu")
        log(f"run {run_id} failed: {message}")
        registry.update_run(run_id, status="failed", error=message)
        # The raw exception line too: the diagnosis (trainer/evaluate/diagnosis.py) reads e.g.
        # "tried to allocate N bytes".
        progress.write(phase="failed", eta_s=None, error=message, **error_details(error))
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _write_splits(run_dir: Path, texts: list[str], labels: list[str], splits: dict[str, list[int]]) -> None:
    for name, indices in splits.items():
        lines = [json.dumps({"text": texts[i], "label": labels[i]}, ensure_ascii=False) for i in indices]
        atomic_write_text(run_dir / "splits" / f"{name}.jsonl", "\n".join(lines) + ("\n" if lines else ""))


def _train(run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter) -> dict[str, Any]:
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed
    from transformers.utils import logging as hf_logging

    from trainer.tasks.text_classification.model import (
        effective_max_length,
        freeze_lower_layers,
        load_classifier,
        load_tokenizer,
    )

    # Both cores do the matrix work; torch's default can be lower inside containers.
    torch.set_num_threads(os.cpu_count() or 1)
    # Progress bars for loading/saving weights only clutter train.log; progress.json carries progress.
    hf_logging.disable_progress_bar()
    config = RunConfig.load(run_dir / "config.json")
    set_seed(config.seed)

    path = resolve_data_path(config.data, run_dir.resolve().parent.parent)  # run_dir is <ws>/runs/run-<id>
    table = load_table(path)
    columns = pick_columns(table, config.text_column or None, config.label_column or None)
    found = usable_examples(table, columns["text_column"], columns["label_column"])
    # The split the OpenAI plan of this file makes too: exact repeats dropped, stratified, the same seed.
    labelled = split_labelled_texts(found.texts, found.labels, config.val_fraction, config.test_fraction, config.seed)
    texts, labels, splits = labelled.texts, labelled.labels, labelled.splits
    duplicates_dropped = labelled.repeats_dropped
    if not splits["test"]:
        raise UserError(
            f"'{path.name}' has too few labelled rows ({len(texts)}) to hold out a test split; "
            "add more examples (a few dozen per class at least)."
        )
    _write_splits(run_dir, texts, labels, splits)
    label_names = sorted(set(labels))
    label2id = {label: i for i, label in enumerate(label_names)}
    log(
        f"{len(texts)} examples from '{path.name}' (text '{columns['text_column']}', label "
        f"'{columns['label_column']}', {duplicates_dropped} exact repeats dropped), {len(label_names)} classes; split "
        + ", ".join(f"{name} {len(ix)}" for name, ix in splits.items())
    )

    # A catalog model that is not here yet is fetched first, with progress; the loaders below then find it.
    fetch_model(config.model, progress)
    tokenizer = load_tokenizer(config)
    model = load_classifier(config, label_names)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    counts = freeze_lower_layers(model, config.freeze_layers)
    log(f"model '{config.model}': {counts['trainable']:,} trainable, {counts['frozen']:,} frozen parameters")
    max_length = effective_max_length(config, tokenizer, model)

    def encode(indices: list[int]) -> list[dict[str, Any]]:
        # No padding here: the collator pads each batch only to its own longest text.
        encoded = tokenizer([texts[i] for i in indices], truncation=True, max_length=max_length)
        keys = list(encoded.keys())
        return [
            {**{key: encoded[key][row] for key in keys}, "labels": label2id[labels[i]]} for row, i in enumerate(indices)
        ]

    train_set, validation_set = encode(splits["train"]), encode(splits["validation"])

    steps_per_epoch = math.ceil(len(train_set) / (config.batch_size * config.gradient_accumulation_steps))
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    has_validation = len(validation_set) > 0
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        # Micro-batches summed per optimizer step: a smaller batch_size with the same effective batch saves memory.
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        activation_checkpointing=config.gradient_checkpointing == "on",  # transformers 5 name
        # A run whose batch was cut for memory (it accumulates) evaluates at that micro-batch too, not at 64.
        per_device_eval_batch_size=config.batch_size
        if config.gradient_accumulation_steps > 1
        else max(64, config.batch_size),
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        # A float below 1 is read as a share of all steps.
        warmup_steps=min(config.warmup_ratio, 0.99),
        lr_scheduler_type="linear",
        eval_strategy="epoch" if has_validation else "no",
        save_strategy="epoch",
        save_total_limit=1,
        # Weights only: optimizer state would triple the checkpoint for a resume nobody does here.
        save_only_model=True,
        logging_strategy="steps",
        logging_steps=max(1, total_steps // LOG_POINTS),
        logging_first_step=True,
        # The NaN guard must see a NaN loss; the Trainer would otherwise hide it behind the running mean.
        logging_nan_inf_filter=False,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        seed=config.seed,
        data_seed=config.seed,
        # Batches of similar length: far less padding, which is most of the CPU time on short texts.
        train_sampling_strategy="group_by_length",
        dataloader_pin_memory=torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    callback = RunCallback(run_dir, registry, run_id, flag, progress)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,  # type: ignore[arg-type]
        eval_dataset=validation_set if has_validation else None,  # type: ignore[arg-type]
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_eval_metrics(len(label_names)),
        # The guard comes after the callback, so metrics.jsonl keeps the non-finite loss it stops on.
        callbacks=[callback, LossGuard(zero_loss_check=False)],
    )
    # The classifier's loss is a batch mean that ignores `num_items_in_batch`; the Trainer must then divide it by
    # the accumulation steps itself, or gradients (and logged losses) come out gradient_accumulation_steps too big.
    trainer.model_accepts_loss_kwargs = False
    progress.write(phase="training", total_steps=total_steps)
    started = time.monotonic()
    flag.in_training_loop = True
    try:
        trainer.train()
    finally:
        flag.in_training_loop = False
    train_seconds = time.monotonic() - started
    if flag.requested:
        raise RunCancelled()

    progress.write(phase="evaluating", eta_s=None)
    model = trainer.model  # type: ignore[assignment]
    _save_model(model, tokenizer, run_dir)
    evaluation = _evaluate(
        run_dir, run_id, model, tokenizer, max_length, texts, labels, splits, label_names,
        batch_size=args.per_device_eval_batch_size,
    )  # fmt: skip
    evaluation.update(train_seconds=round(train_seconds, 1), train_size=len(splits["train"]))
    evaluation["validation_size"] = len(splits["validation"])
    evaluation["duplicates_dropped"] = duplicates_dropped
    atomic_write_json(run_dir / "evaluation.json", evaluation)

    final_loss = next((row["loss"] for row in reversed(read_jsonl(run_dir / "metrics.jsonl")) if "loss" in row), None)
    metrics = {
        **classification_summary(evaluation),
        "train_size": len(splits["train"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": final_loss,
    }
    # progress.json says done before the row says succeeded, so whoever sees the status sees the phase too.
    progress.write(phase="done", step=progress.fields.get("step"), eta_s=0)
    registry.update_run(run_id, status="succeeded", metrics=metrics, error=None)
    return {"status": "succeeded", "run_id": run_id, "metrics": metrics}


def _eval_metrics(num_labels: int) -> Any:
    def compute(prediction: Any) -> dict[str, float]:
        import numpy as np
        from sklearn.metrics import accuracy_score, f1_score

        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted = np.argmax(logits, axis=-1)
        truth = prediction.label_ids
        return {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(
                f1_score(truth, predicted, labels=list(range(num_labels)), average="macro", zero_division=0)
            ),
        }

    return compute


def _save_model(model: Any, tokenizer: Any, run_dir: Path) -> None:
    """Write model/ completely under a temporary name first, so model/ is never half-written."""
    partial = run_dir / ".model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    final = run_dir / "model"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)


def _evaluate(
    run_dir: Path,
    run_id: int,
    model: Any,
    tokenizer: Any,
    max_length: int,
    texts: list[str],
    labels: list[str],
    splits: dict[str, list[int]],
    label_names: list[str],
    batch_size: int = 64,
) -> dict[str, Any]:
    from trainer.evaluate.plots import plot_confusion_matrix, plot_loss_curves
    from trainer.tasks.text_classification.model import predict_labels

    test_texts = [texts[i] for i in splits["test"]]
    y_true = [labels[i] for i in splits["test"]]
    y_pred = predict_labels(model, tokenizer, test_texts, max_length, batch_size=batch_size)
    evaluation = classification_metrics(y_true, y_pred, label_names)
    evaluation["baseline"] = majority_baseline([labels[i] for i in splits["train"]], y_true, label_names)
    evaluation["test_size"] = len(y_true)

    rows = read_jsonl(run_dir / "metrics.jsonl")
    curves = {
        "training loss": [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r],
        "validation loss": [(int(r["step"]), float(r["eval_loss"])) for r in rows if "eval_loss" in r],
    }
    cm_png = plot_confusion_matrix(evaluation["confusion_matrix"], label_names, run_dir / "confusion_matrix.png")
    loss_png = plot_loss_curves(curves, run_dir / "loss.png", f"Run {run_id}: loss")
    evaluation["confusion_matrix_png"] = str(cm_png)
    evaluation["loss_png"] = str(loss_png)
    log(
        f"test accuracy {evaluation['accuracy']:.4f}, macro-F1 {evaluation['macro_f1']:.4f} "
        f"(majority baseline {evaluation['baseline']['accuracy']:.4f} / {evaluation['baseline']['macro_f1']:.4f})"
    )
    return evaluation
