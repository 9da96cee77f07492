"""What every encoder task's worker shares (text classification, text regression): the Trainer's arguments,
dynamic padding in length-bucketed batches, the training loop with a clean stop, the saved model, the loss curves.
The stop-and-status wrapper around a run is trainer/tasks/run_guard.py, which media runs share too.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.fileio import read_jsonl
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks.guards import LossGuard
from trainer.tasks.progress import ProgressWriter, log
from trainer.tasks.run_guard import RunCancelled, StopFlag
from trainer.tasks.text_classification.callbacks import RunCallback
from trainer.tasks.tracking import tracked, tracking_for

# About this many training-loss points per run, so the loss curve and the progress bar move smoothly.
LOG_POINTS = 25


def physical_cores() -> int:
    """The machine's physical cores: matrix work gains nothing from hyperthreads, which only contend."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    return max(1, cores or os.cpu_count() or 1)


def training_threads() -> int:
    """Threads for torch: one per physical core that other processes are not already keeping busy.

    Torch's threads meet at a barrier after every operation; when another process holds one of them off its core,
    the rest wait. Measured on 2 cores with a load average of 9 from other processes: a tiny model's run took 87 s
    with 2 threads and 4.7 s with 1 (on an idle machine 2 threads are the faster).
    """
    cores = physical_cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, cores - math.floor(busy)))


def prepare_process() -> None:
    """Settings every encoder run makes before loading its model."""
    import torch
    from transformers.utils import logging as hf_logging

    threads = training_threads()
    torch.set_num_threads(threads)
    log(f"{threads} torch thread{'s' if threads > 1 else ''} ({physical_cores()} physical cores)")
    # Progress bars for loading/saving weights only clutter train.log; progress.json carries progress.
    hf_logging.disable_progress_bar()


def encode_rows(
    tokenizer: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    labels: Sequence[Any],
    max_length: int,
) -> list[dict[str, Any]]:
    """Token ids per example (a text, or a text pair) with its label, unpadded: the collator pads each batch
    only to its own longest example."""
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True, max_length=max_length)
    keys = list(encoded.keys())
    return [{**{key: encoded[key][row] for key in keys}, "labels": label} for row, label in enumerate(labels)]


def eval_batch_size(config: RunConfig) -> int:
    """Examples per forward pass without gradients (validation, the test split, the frozen-encoder probe): 64, but
    a run whose batch was cut for memory (it accumulates) stays at that micro-batch, or those passes run out."""
    return config.batch_size if config.gradient_accumulation_steps > 1 else max(64, config.batch_size)


def training_arguments(
    config: RunConfig,
    run_dir: Path,
    train_rows: int,
    has_validation: bool,
    metric: str | None = None,
    greater_is_better: bool = True,
) -> Any:
    """The Trainer's arguments of an encoder run: length-grouped batches, dynamic padding, one checkpoint.

    `metric` (an eval metric name) picks the epoch kept at the end: only a new best epoch is saved and the best is
    loaded back when training ends; None (or no validation split) keeps the last.
    """
    import torch
    from transformers import TrainingArguments

    steps = count_steps(train_rows, config.batch_size * config.gradient_accumulation_steps, config.epochs)
    best = metric is not None and has_validation
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        # Micro-batches summed per optimizer step: a smaller batch_size with the same effective batch saves memory.
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        activation_checkpointing=config.gradient_checkpointing == "on",  # transformers 5 name
        per_device_eval_batch_size=eval_batch_size(config),
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        # A float below 1 is read as a share of all steps.
        warmup_steps=min(config.warmup_ratio, 0.99),
        lr_scheduler_type="linear",
        eval_strategy="epoch" if has_validation else "no",
        # "best" saves an epoch only when it beats every earlier one, so the one checkpoint kept is the best.
        save_strategy="best" if best else "epoch",
        save_total_limit=1,
        load_best_model_at_end=best,
        metric_for_best_model=metric if best else None,
        greater_is_better=greater_is_better if best else None,
        # Weights only: optimizer state would triple the checkpoint for a resume nobody does here.
        save_only_model=True,
        logging_strategy="steps",
        logging_steps=max(1, steps // LOG_POINTS),
        logging_first_step=True,
        # The NaN guard must see a NaN loss; the Trainer would otherwise hide it behind the running mean.
        logging_nan_inf_filter=False,
        # TensorBoard in the run folder by default, or the tracker the config names (trainer/tasks/tracking.py).
        **tracking_for(config, run_dir).trainer_arguments(),
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        seed=config.seed,
        data_seed=config.seed,
        # The order of training examples is BucketSampler's (make_trainer): batches of similar length.
        dataloader_pin_memory=torch.cuda.is_available(),
        dataloader_num_workers=0,
    )


class BucketSampler:
    """Training order in batches of similar length: shuffle, sort each chunk of CHUNK_BATCHES batches by length,
    cut it into batches and shuffle the batches (the one short batch goes last, so batches stay aligned).

    Each batch is then padded to a length close to that of all its examples. The Trainer's own `group_by_length`
    sorts chunks of at most a quarter of the data and serves each chunk longest first; on the SMS spam set its
    batches were still 27% padding.
    """

    CHUNK_BATCHES = 100

    def __init__(self, lengths: list[int], batch_size: int):
        self.lengths, self.batch_size = lengths, batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Any:
        import torch

        # Torch's generator, seeded by the Trainer as its own samplers are, so runs repeat exactly.
        order = torch.randperm(len(self.lengths)).tolist()
        chunk = self.batch_size * self.CHUNK_BATCHES
        batches: list[list[int]] = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=self.lengths.__getitem__)
            batches += [part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        full = [batch for batch in batches if len(batch) == self.batch_size]
        short = [batch for batch in batches if len(batch) < self.batch_size]
        shuffled = [full[i] for i in torch.randperm(len(full)).tolist()]
        return iter([index for batch in [*shuffled, *short] for index in batch])


def make_trainer(
    model: Any,
    tokenizer: Any,
    args: Any,
    train_set: list[dict[str, Any]],
    validation_set: list[dict[str, Any]],
    callbacks: list[Any],
    compute_metrics: Any = None,
) -> Any:
    """A Trainer on batches of similar length (BucketSampler), each padded to its own longest example
    (DataCollatorWithPadding); validation examples go in length order, which changes no metric."""
    from transformers import DataCollatorWithPadding, Trainer

    class BucketTrainer(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            rows: Any = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(row["input_ids"]) for row in rows]
            return BucketSampler(lengths, self.args.train_batch_size)

    trainer = BucketTrainer(
        model=model,
        args=args,
        train_dataset=train_set,  # type: ignore[arg-type]
        eval_dataset=sorted(validation_set, key=lambda row: len(row["input_ids"])) or None,  # type: ignore[arg-type]
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    # The encoder's loss is a batch mean that ignores `num_items_in_batch`; the Trainer must then divide it by
    # the accumulation steps itself, or gradients (and logged losses) come out gradient_accumulation_steps too big.
    trainer.model_accepts_loss_kwargs = False
    return trainer


def run_callbacks(
    run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter
) -> list[Any]:
    """The callbacks of a run: metrics.jsonl and progress, then the NaN guard (after, so metrics.jsonl keeps the
    non-finite loss it stops on)."""
    return [RunCallback(run_dir, registry, run_id, flag, progress), LossGuard(zero_loss_check=False)]


def fit(trainer: Any, flag: StopFlag, progress: ProgressWriter, total_steps: int) -> float:
    """Train; the seconds it took. A stop request raises RunCancelled once the loop has ended cleanly."""
    progress.write(phase="training", total_steps=total_steps)
    started = time.monotonic()
    flag.in_training_loop = True
    try:
        trainer.train()
    finally:
        flag.in_training_loop = False
    if flag.requested:
        raise RunCancelled()
    return time.monotonic() - started


@dataclass(frozen=True)
class Trained:
    """What `train_and_save` leaves for the evaluation: the trained model and the run's training facts."""

    model: Any
    seconds: float
    eval_batch_size: int
    # Which epoch was kept and why training stopped (trainer/evaluate/selection.py); None without validation.
    kept: dict[str, Any] | None = None


def train_and_save(
    model: Any,
    tokenizer: Any,
    config: RunConfig,
    run_dir: Path,
    train_set: list[dict[str, Any]],
    validation_set: list[dict[str, Any]],
    callbacks: list[Any],
    flag: StopFlag,
    progress: ProgressWriter,
    compute_metrics: Any = None,
    best_by: tuple[str, bool] | None = None,
) -> Trained:
    """Train an encoder run on its encoded splits, then save model/ (complete or not at all); a stop request
    raises RunCancelled once the loop has ended cleanly.

    `best_by` (a validation metric and whether higher is better) keeps the best epoch rather than the last and,
    with config.early_stopping_patience, stops once that many epochs in a row did not beat it.
    """
    from transformers import EarlyStoppingCallback

    from trainer.evaluate.selection import epoch_choice, trainer_history

    metric, greater = best_by if best_by else (None, True)
    args = training_arguments(config, run_dir, len(train_set), bool(validation_set), metric, greater)
    patience = config.early_stopping_patience if args.load_best_model_at_end else 0
    stopping = [EarlyStoppingCallback(early_stopping_patience=patience)] if patience else []
    steps = count_steps(len(train_set), config.batch_size * config.gradient_accumulation_steps, config.epochs)
    with tracked(tracking_for(config, run_dir)):  # the tracker's integration reads its settings while it trains
        trainer = make_trainer(
            model, tokenizer, args, train_set, validation_set, [*callbacks, *stopping], compute_metrics
        )
        seconds = fit(trainer, flag, progress, steps)
    kept = None
    if metric is not None and args.load_best_model_at_end:
        history = trainer_history(trainer.state.log_history, metric)
        kept = epoch_choice(history, metric, greater, config.epochs, patience)
        if kept:
            log(kept["sentence"])
        if kept and kept["stopped_early"]:  # the run is complete at the step it stopped on
            progress.write(step=trainer.state.global_step, total_steps=trainer.state.global_step)
    progress.write(phase="evaluating", eta_s=None)
    save_model(trainer.model, tokenizer, run_dir)
    return Trained(trainer.model, seconds, args.per_device_eval_batch_size, kept)


def count_steps(train_rows: int, effective_batch: int, epochs: float) -> int:
    """Optimizer steps of a run: batches per epoch (the last one partial) times the epochs."""
    return max(1, math.ceil(math.ceil(train_rows / effective_batch) * epochs))


def save_model(model: Any, tokenizer: Any, run_dir: Path) -> None:
    """Write model/ completely under a temporary name first, so model/ is never half-written."""
    partial = run_dir / ".model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    final = run_dir / "model"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)


def loss_curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    rows = read_jsonl(run_dir / "metrics.jsonl")
    return {
        "training loss": [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r],
        "validation loss": [(int(r["step"]), float(r["eval_loss"])) for r in rows if "eval_loss" in r],
    }


def final_loss(run_dir: Path) -> float | None:
    return next((row["loss"] for row in reversed(read_jsonl(run_dir / "metrics.jsonl")) if "loss" in row), None)


def finish(run_dir: Path, registry: Registry, run_id: int, progress: ProgressWriter, metrics: dict[str, Any]) -> dict:
    """Record a succeeded run: progress.json says done before the row says succeeded, so whoever sees the status
    sees the phase too."""
    progress.write(phase="done", step=progress.fields.get("step"), eta_s=0)
    registry.update_run(run_id, status="succeeded", metrics=metrics, error=None)
    return {"status": "succeeded", "run_id": run_id, "metrics": metrics}
