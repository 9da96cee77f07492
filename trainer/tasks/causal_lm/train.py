"""One local causal-LM run (SFT, DPO, ORPO or KTO with TRL), start to finish, in the current process.

Writes into the run folder: hardware.json (what was detected and chosen, with reasons), metrics.jsonl and
progress.json while training (loss, learning rate, grad norm, tokens/s, ETA; eval loss and perplexity),
checkpoints/checkpoint-N (each marked complete after it is saved), samples.json (generations on held-out
prompts before and after), model/ (the LoRA adapter or the full weights, with the tokenizer),
evaluation.json (with reward accuracy on held-out examples before and after, for the preference tasks) and
loss.png. SIGTERM saves a checkpoint and marks the run interrupted (resumable).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from trainer.backends.local import resolve_data_path
from trainer.core.errors import UserError, is_disk_full
from trainer.core.fileio import atomic_write_json, atomic_write_text, read_json, read_jsonl
from trainer.evaluate.held_out import fingerprint, write_held_out
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks.causal_lm import checkpoints as ckpt
from trainer.tasks.causal_lm.callbacks import RunCallback, StopRequest, perplexity
from trainer.tasks.causal_lm.data import split
from trainer.tasks.causal_lm.generate import generate
from trainer.tasks.causal_lm.lengths import check_lengths
from trainer.tasks.causal_lm.probes import held_out_probes
from trainer.tasks.causal_lm.replay import REPLAY_FILE, with_replay
from trainer.tasks.causal_lm.samples import sample_prompts
from trainer.tasks.causal_lm.stops import save_generation_config
from trainer.tasks.causal_lm.trainer_setup import make_trainer, plan_choices, trainer_args
from trainer.tasks.guards import LossGuard
from trainer.tasks.progress import ProgressWriter, error_details, failure_message, fetch_model, log
from trainer.tasks.registry import get_task
from trainer.tasks.tracking import NO_TRACKING, tracked, tracking_for

SAMPLE_PROMPTS = 3
INTERRUPTED = "Interrupted by a stop request after saving a checkpoint; `tunechat resume {run_id}` continues it."


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train_llm_run(run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
    """Train run `run_id` (a causal-LM task: sft, dpo, orpo, kto); return {"status", "run_id", "metrics"}.

    Failures are recorded (one sentence) and re-raised; a SIGTERM saves a checkpoint, marks the run
    cancelled with an "interrupted" note and returns {"status": "cancelled", "interrupted": True}.
    """
    run_dir = Path(run_dir)
    stop = StopRequest()
    progress = ProgressWriter(run_dir)
    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_sigterm(signum: int, frame: Any) -> None:
            stop.requested = True  # honoured at the next step boundary, after a checkpoint is saved

        previous = signal.signal(signal.SIGTERM, on_sigterm)
    config = RunConfig.load(run_dir / "config.json")
    try:
        if _is_main():
            progress.write(phase="loading")
            registry.update_run(run_id, status="running", pid=os.getpid(), error=None)
        with tracked(tracking_for(config, run_dir) if _is_main() else NO_TRACKING):
            result = _train(run_dir, registry, run_id, config, stop, progress, resume)
        if result["status"] == "cancelled":
            message = INTERRUPTED.format(run_id=run_id)
            log(message)
            if _is_main():
                registry.update_run(run_id, status="cancelled", error=message)
                progress.write(phase="interrupted", eta_s=None)
        return result
    except BaseException as error:
        from trainer.plan.hardware import detect_hardware

        if is_disk_full(error) and _is_main():
            # A save cut short by a full disk: drop the partial checkpoint (never trusted anyway), which also
            # frees the room to record the failure; the complete ones stay for a resume.
            ckpt.remove_incomplete(run_dir / "checkpoints")
        message = failure_message(error, config, detect_hardware().device)
        log(f"run {run_id} failed: {message}")
        if _is_main():
            registry.update_run(run_id, status="failed", error=message)
            # The raw exception line too: the diagnosis reads e.g. "tried to allocate N bytes" from it.
            progress.write(phase="failed", eta_s=None, error=message, **error_details(error))
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _train(
    run_dir: Path,
    registry: Registry,
    run_id: int,
    config: RunConfig,
    stop: StopRequest,
    progress: ProgressWriter,
    resume: bool,
) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer, set_seed
    from transformers.utils import logging as hf_logging

    from trainer.tasks.causal_lm.methods import freeze_lower, load_causal_lm, parameter_counts
    from trainer.tasks.causal_lm.templates import ensure_chat_template

    torch.set_num_threads(os.cpu_count() or 1)
    hf_logging.disable_progress_bar()
    set_seed(config.seed)
    task: Any = get_task(config.task)
    if not hasattr(task, "load_examples"):  # the causal-LM tasks are the ones that load examples for TRL
        raise UserError(f"Task '{config.task}' is not a causal-LM task; use sft, dpo, orpo or kto.")

    # Refuse GPU-only choices before loading anything (the model size is not needed for that check).
    choices = plan_choices(config, parameters=0)
    path = resolve_data_path(config.data, run_dir.resolve().parent.parent)
    # Placeholders such as {{name}} are filled with the plan's values here; the upload itself stays unchanged.
    examples = task.load_examples(path, config.placeholders)
    train_rows, val_rows = split(examples, config.val_fraction, config.seed)
    if _is_main():  # which rows are held out, so `compare` can show a hosted run of this file scored on the same
        write_held_out(run_dir, fingerprint("validation", val_rows))
    log(f"{len(examples)} {config.task} examples in '{path.name}': {len(train_rows)} train, {len(val_rows)} validation")

    # An offline catalog name (e.g. smollm2) loads from its converted folder, fetched now on first use; a saved
    # adapter then names that folder as its base.
    config = replace(config, model=fetch_model(config.model, progress))
    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    model = load_causal_lm(config, choices["choice"])
    template_note = ensure_chat_template(tokenizer, model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    choices = plan_choices(config, parameters=parameter_counts(model)["total"])
    choice = choices["choice"]
    choices["template"] = template_note
    if config.method == "freeze":
        counts = freeze_lower(model, config.freeze_layers)
    else:
        counts = parameter_counts(model)
    atomic_write_json(run_dir / "hardware.json", choices)
    log("choices: " + "; ".join(f"{k}={v} ({choices['reasons'].get(k, '')})" for k, v in choice.items()))

    samples_path = run_dir / "samples.json"
    held_out = sample_prompts(config.sample_prompts, val_rows or train_rows, SAMPLE_PROMPTS)
    samples: dict[str, Any] = read_json(samples_path) if resume and samples_path.is_file() else {}
    if _is_main() and "before" not in samples:
        samples = {"prompts": held_out, "before": generate(model, tokenizer, held_out)}
        atomic_write_json(samples_path, samples)

    # What is measured on the model before training and again after it (kept in files, so a resume compares
    # against the model as it was before its first step).
    probes = held_out_probes(task, val_rows, config) if _is_main() else []
    for probe in probes:
        progress.write(phase=probe.phase)
        probe.start(model, tokenizer, run_dir / probe.reference_file)

    # Replay rows are the base model's answers, so they are made before the first step (and kept for a resume).
    replay_file = run_dir / REPLAY_FILE if _is_main() else None
    train_rows, note = with_replay(task, model, tokenizer, train_rows, config.general_mix, replay_file, config.seed)
    if note:
        log(note)

    output_dir = run_dir / "checkpoints"
    resume_from = None
    if resume:
        removed = ckpt.remove_incomplete(output_dir)
        if removed:
            log(f"deleted incomplete checkpoints (killed while saving): {', '.join(removed)}")
        latest = ckpt.latest_complete(output_dir)
        if latest:
            resume_from = str(latest[1])
            _truncate_metrics(run_dir / "metrics.jsonl", latest[0])
            log(f"resuming from step {latest[0]} ({latest[1].name})")
        else:
            log("no complete checkpoint yet: starting again from step 0")
            _truncate_metrics(run_dir / "metrics.jsonl", 0)

    # SFT without {% generation %} markers trains on the last reply only; then max_length within the model's
    # context, rows whose prompt fills it dropped, truncations and the template's meaning said.
    last_reply_only = task.last_reply_only(tokenizer)
    train_rows, val_rows = task.shape_rows(train_rows, tokenizer), task.shape_rows(val_rows, tokenizer)
    config, train_rows, val_rows = check_lengths(
        run_dir, config, model, tokenizer, train_rows, val_rows, examples, last_reply_only, template_note
    )
    train_rows = task.training_rows(train_rows, tokenizer, config, choice)
    val_rows = task.training_rows(val_rows, tokenizer, config, choice)
    args = trainer_args(config, choice, output_dir, len(train_rows), bool(val_rows), tokenizer, run_dir=run_dir)
    callbacks = [
        LossGuard(),
        ckpt.CompleteMarker(output_dir),
        RunCallback(run_dir, registry, run_id, stop, progress),
    ]
    trainer = make_trainer(config, model, tokenizer, args, train_rows, val_rows, callbacks)
    if not resume_from:
        for probe in probes:
            probe.before_training(trainer)
    if config.method in ("lora", "qlora"):
        counts = parameter_counts(trainer.model)
    log(f"model '{config.model}' ({config.method}): {counts['trainable']:,} of {counts['total']:,} parameters train")

    lora_start = _lora_tensors(trainer.model)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.monotonic() - started
    if stop.requested and trainer.state.global_step < trainer.state.max_steps:
        return {"status": "cancelled", "run_id": run_id, "interrupted": True, "step": trainer.state.global_step}
    if not _is_main():
        return {"status": "succeeded", "run_id": run_id, "metrics": {}}

    progress.write(phase="evaluating", eta_s=None)
    evaluation: dict[str, Any] = {"task": config.task, "method": config.method}
    if val_rows:
        eval_loss = _final_eval_loss(trainer)
        evaluation["eval_loss"] = eval_loss
        evaluation["perplexity"] = perplexity(eval_loss) if task.reports_perplexity else None
    model = trainer.model
    for probe in probes:
        progress.write(phase=probe.phase)
        evaluation.update(probe.finish(model, tokenizer))
    if lora_start and not resume_from:
        after = _lora_tensors(model)
        unchanged = [name for name, value in lora_start.items() if bool((after[name] == value).all())]
        # An adapter tensor that never moved means it got no gradient: worth seeing, not only in a test.
        evaluation["lora_tensors"] = {"count": len(lora_start), "unchanged": unchanged}
    samples["after"] = generate(model, tokenizer, samples["prompts"])
    atomic_write_json(samples_path, samples)
    _save_model(model, tokenizer, run_dir, config)

    rows = read_jsonl(run_dir / "metrics.jsonl")
    losses = [row["loss"] for row in rows if "loss" in row]
    speeds = [row["tokens_per_s"] for row in rows if row.get("tokens_per_s")]
    from trainer.evaluate.plots import plot_loss_curves

    curves = {
        "training loss": [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r],
        "validation loss": [(int(r["step"]), float(r["eval_loss"])) for r in rows if "eval_loss" in r],
    }
    evaluation.update(
        first_loss=losses[0] if losses else None,
        final_loss=losses[-1] if losses else None,
        steps=trainer.state.global_step,
        train_seconds=round(train_seconds, 1),
        tokens_per_s=round(sum(speeds) / len(speeds), 1) if speeds else None,
        trainable_parameters=counts["trainable"],
        samples=samples,
        choices=choice,
        loss_png=str(plot_loss_curves(curves, run_dir / "loss.png", f"Run {run_id}: loss")),
        train_size=len(train_rows),
        validation_size=len(val_rows),
    )
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    summary = {
        key: evaluation.get(key)
        for key in ("final_loss", "first_loss", "eval_loss", "perplexity", "steps", "tokens_per_s", "train_seconds")
    }
    summary.update(task.summary_metrics(evaluation))
    # progress.json says done before the row says succeeded, so whoever sees the status sees the phase too.
    progress.write(phase="done", step=trainer.state.global_step, eta_s=0)
    registry.update_run(run_id, status="succeeded", metrics=summary, error=None)
    log(f"run {run_id} succeeded: {json.dumps(summary)}")
    return {"status": "succeeded", "run_id": run_id, "metrics": summary}


def _final_eval_loss(trainer: Any) -> float:
    """The validation loss of the trained model: the one logged at the last step when there was one (on CPU an
    evaluation costs as much as several training steps), otherwise a fresh evaluation."""
    last = trainer.state.global_step
    logged = [row for row in trainer.state.log_history if "eval_loss" in row and row.get("step") == last]
    return float(logged[-1]["eval_loss"] if logged else trainer.evaluate()["eval_loss"])


def _lora_tensors(model: Any) -> dict[str, Any]:
    """A copy of the LoRA A/B matrices (empty for full and freeze), to report which ones training changed."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name and p.requires_grad}


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint we resume from; they will be logged again."""
    if not path.is_file():
        return
    kept = [row for row in read_jsonl(path) if int(row.get("step", 0)) <= step]
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in kept))


def _save_model(model: Any, tokenizer: Any, run_dir: Path, config: RunConfig) -> None:
    """model/ holds the adapter (lora/qlora) or full weights, the tokenizer (with its chat template) and the
    generation config (every stop token), written under a temp name first."""
    partial = run_dir / ".model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    save_generation_config(model, tokenizer, partial)  # the stop tokens, which serving and export read
    kind = "adapter" if config.method in ("lora", "qlora") else "full"
    atomic_write_json(partial / "tunechat.json", {"kind": kind, "base_model": config.model, "task": config.task})
    final = run_dir / "model"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
