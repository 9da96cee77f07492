"""One local media-classification run, start to finish, in the worker process.

Reads runs/run-<id>/config.json and writes the rest of the run folder like every classifier run: splits/,
metrics.jsonl and progress.json while training, then model/, evaluation.json and its plots. A plain PyTorch loop
(the network, batching and augmentation come from the modality): a SIGTERM stops it at the next step boundary,
a non-finite loss stops it with one sentence (LossGuard), and the registry row goes running -> succeeded |
failed | cancelled.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text, read_jsonl
from trainer.core.workspace import resolve_data_path
from trainer.evaluate.metrics import classification_summary
from trainer.evaluate.probe import probe_verdict
from trainer.evaluate.selection import epoch_choice
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks.guards import LossGuard
from trainer.tasks.media.examples import MediaSet, drop_repeats, load_media
from trainer.tasks.media.predict import ItemStore, logits_of, predict_probabilities
from trainer.tasks.media.probe import media_probe
from trainer.tasks.media.split import split_media
from trainer.tasks.progress import ProgressWriter, log
from trainer.tasks.run_guard import RunCancelled, StopFlag, guarded_run
from trainer.tasks.tracking import ScalarLog, tracking_for

if TYPE_CHECKING:
    from trainer.tasks.media.modality import MediaModel, Modality

# About this many training-loss points per run, so the loss curve and the progress bar move smoothly.
LOG_POINTS = 40
WARMUP_SHARE = 0.06


def train_media_run(modality: Modality, run_dir: Path, registry: Registry, run_id: int) -> dict[str, Any]:
    """Train, evaluate and record run `run_id`; failures are recorded (one sentence) and re-raised."""
    return guarded_run(run_dir, registry, run_id, partial(_train, modality))


def _train(
    modality: Modality, run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter
) -> dict[str, Any]:
    import numpy as np
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    config = RunConfig.load(run_dir / "config.json")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    root = run_dir.resolve().parent.parent  # run_dir is <workspace>/runs/run-<id>
    path = resolve_data_path(config.data, root)
    media = load_media(
        path, modality, root, file_column=config.file_column or None, label_column=config.label_column or None
    )
    for note in (media.skipped_sentence(), *media.notes):
        if note:
            log(note)
    # An exact copy left in could land in train and test at once and inflate the test score.
    duplicates_dropped = drop_repeats(media)
    splits = split_media(media, config.val_fraction, config.test_fraction, config.seed, by_group=config.group_split)
    if not splits["test"] or not splits["train"]:
        raise UserError(
            f"'{path.name}' has too few usable files ({len(media.examples)}) to hold out a test split; add more "
            f"{modality.noun}s (a few dozen per class at least)."
        )
    _write_splits(run_dir, media, splits)
    labels = media.labels
    log(
        f"{len(media.examples)} {modality.noun} files from '{path.name}', {len(labels)} classes; split "
        + ", ".join(f"{name} {len(ix)}" for name, ix in splits.items())
    )
    model = modality.load_model(config, labels, progress=log)
    layers = model.layer_count()
    if config.freeze_layers > layers:
        raise UserError(
            f"freeze_layers is {config.freeze_layers} but the model has only {layers} layers; choose a number from "
            f"0 to {layers} ({layers} trains only the new head)."
        )
    counts = model.freeze(config.freeze_layers)
    # The frozen pretrained backbone under logistic regression, before any training step changes it.
    probe = media_probe(modality, model, media, splits, config.seed)
    log(f"model '{config.model}': {counts['trainable']:,} trainable, {counts['frozen']:,} frozen parameters")

    train_items = ItemStore(modality, model, [media.examples[i] for i in splits["train"]])
    train_targets = [labels.index(media.examples[i].label) for i in splits["train"]]
    batch_size = config.batch_size
    steps_per_epoch = math.ceil(len(train_items) / batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    parameters = [p for p in model.network.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, int(total_steps * WARMUP_SHARE))

    def rate(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    validation = [media.examples[i] for i in splits["validation"]]
    validation_items = ItemStore(modality, model, validation)
    validation_targets = [labels.index(example.label) for example in validation]
    log_every = max(1, total_steps // LOG_POINTS)
    guard = LossGuard(zero_loss_check=False)
    metrics_path = run_dir / "metrics.jsonl"
    # The same numbers in TensorBoard when that is the run's tracker (the Trainer's integrations do not see this loop).
    scalars = ScalarLog(tracking_for(config, run_dir))
    progress.write(phase="training", step=0, total_steps=total_steps)
    registry.update_run(run_id, status="running")
    started = time.monotonic()
    step, seen, running = 0, 0, []
    # The best epoch by validation macro-F1 is kept (its weights copied aside) and training stops after
    # `patience` epochs in a row without a better one.
    patience, best_weights, stale = config.early_stopping_patience, None, 0
    history: list[tuple[float, float]] = []
    flag.in_training_loop = True
    try:
        while step < total_steps and not (patience and stale >= patience):
            order = rng.permutation(len(train_items))
            for start in range(0, len(order), batch_size):
                if flag.requested:
                    raise RunCancelled()
                chosen = order[start : start + batch_size]
                if len(chosen) < 2 and len(order) > 1:
                    continue  # batch norm cannot learn from a batch of one
                model.train_mode()
                batch = model.batch([train_items[i] for i in chosen], True, rng)
                target = torch.tensor([train_targets[i] for i in chosen])
                loss = torch.nn.functional.cross_entropy(logits_of(model.network(**batch)), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                seen += len(chosen)
                running.append(float(loss.detach()))
                if step % log_every == 0 or step == 1 or step == total_steps:
                    elapsed = time.monotonic() - started
                    eta = round(elapsed / step * (total_steps - step), 1)
                    record = {
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": round(step / steps_per_epoch, 4),
                        "loss": sum(running) / len(running),
                        "learning_rate": scheduler.get_last_lr()[0],
                        "elapsed_s": round(elapsed, 1),
                        "eta_s": eta,
                    }
                    running = []
                    _append(metrics_path, record, scalars)
                    guard.on_log(None, SimpleNamespace(global_step=step), None, logs={"loss": record["loss"]})
                    progress.write(
                        step=step, total_steps=total_steps, epoch=record["epoch"], loss=record["loss"], eta_s=eta
                    )
                if step >= total_steps:
                    break
            if len(validation_items):
                record = _validation_record(model, validation_items, validation_targets, step, steps_per_epoch)
                _append(metrics_path, record, scalars)
                history.append((float(record["epoch"]), float(record["eval_macro_f1"])))
                if best_weights is None or record["eval_macro_f1"] > max(value for _, value in history[:-1]):
                    best_weights = {k: v.detach().clone() for k, v in model.network.state_dict().items()}
                    stale = 0
                else:
                    stale += 1
    finally:
        flag.in_training_loop = False
        scalars.close()
    kept = epoch_choice(history, "macro_f1", True, config.epochs, patience)
    if best_weights is not None and kept is not None:
        model.network.load_state_dict(best_weights)
        log(kept["sentence"])
        if kept["stopped_early"]:  # the run is complete at the step it stopped on
            progress.write(step=step, total_steps=step)
    train_seconds = time.monotonic() - started
    log(f"trained {step} steps in {train_seconds:.1f} s ({seen / max(train_seconds, 1e-9):.1f} examples/s)")

    progress.write(phase="evaluating", eta_s=None)
    _save_model(model, run_dir)
    from trainer.tasks.media.evaluate import evaluate_media

    evaluation = evaluate_media(modality, model, media, splits, run_dir, run_id)
    evaluation.update(
        train_seconds=round(train_seconds, 1),
        train_size=len(splits["train"]),
        validation_size=len(splits["validation"]),
        examples_per_second=round(seen / max(train_seconds, 1e-9), 1),
        duplicates_dropped=duplicates_dropped,
        skipped_files=[{"name": item.name, "reason": item.reason} for item in media.skipped[:50]],
        data_notes=media.notes,
        linear_probe=probe,
        best_epoch=kept,
    )
    evaluation["probe_verdict"] = probe_verdict(evaluation)
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    final_loss = next((row["loss"] for row in reversed(read_jsonl(metrics_path)) if "loss" in row), None)
    metrics = {
        **classification_summary(evaluation),
        "train_size": len(splits["train"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": final_loss,
    }
    progress.write(phase="done", step=step, eta_s=0)
    registry.update_run(run_id, status="succeeded", metrics=metrics, error=None)
    return {"status": "succeeded", "run_id": run_id, "metrics": metrics}


def _validation_record(
    model: MediaModel, items: ItemStore, targets: list[int], step: int, steps_per_epoch: int
) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    probabilities = predict_probabilities(model, items)
    predicted = [max(range(len(row)), key=row.__getitem__) for row in probabilities]
    loss = -sum(math.log(max(row[t], 1e-12)) for row, t in zip(probabilities, targets, strict=True)) / len(targets)
    accuracy = sum(p == t for p, t in zip(predicted, targets, strict=True)) / len(targets)
    f1 = f1_score(targets, predicted, labels=list(range(len(model.labels))), average="macro", zero_division=0)
    return {
        "step": step,
        "epoch": round(step / steps_per_epoch, 4),
        "eval_loss": loss,
        "eval_accuracy": accuracy,
        "eval_macro_f1": float(f1),
    }


def _append(path: Path, record: dict[str, Any], scalars: ScalarLog) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    scalars.log(record, int(record["step"]))


def _write_splits(run_dir: Path, media: MediaSet, splits: dict[str, list[int]]) -> None:
    for name, indices in splits.items():
        lines = [
            json.dumps({"file": media.examples[i].name, "label": media.examples[i].label}, ensure_ascii=False)
            for i in indices
        ]
        atomic_write_text(run_dir / "splits" / f"{name}.jsonl", "\n".join(lines) + ("\n" if lines else ""))


def _save_model(model: MediaModel, run_dir: Path) -> None:
    """model/ is written completely under a temporary name first, so it is never half-written."""
    partial = run_dir / ".model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model.save(partial)
    final = run_dir / "model"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
