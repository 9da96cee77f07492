"""Why a run failed, read from its record, and the changed config that should make a new run work.

The record is what the workers leave behind: the registry row (status, one-sentence error, config), and in
the run folder progress.json (with the raw exception line, `error_detail`), train.log, metrics.jsonl,
config.json and hardware.json. `diagnose_run` names the cause, quotes the line it is based on, and proposes
concrete changes with one reason each. Nothing here starts a run; tools/diagnose_tools.py does that after
the user's yes.
"""

from __future__ import annotations

import math
import re
from typing import Any

from trainer.backends.local import PROCESS_DIED, log_lines
from trainer.backends.registry import backend_of
from trainer.core.errors import UserError
from trainer.core.fileio import read_json_object, read_jsonl
from trainer.core.memory import cpu_available_bytes, fmt_bytes, parse_size
from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig, resolve_config
from trainer.store.registry import ACTIVE, Registry
from trainer.tasks.registry import task_of

# After the change, the tensor that failed to fit must fit this many times in the memory available: a training
# step holds several tensors of that size at once (activations kept for the backward pass, their gradients).
OOM_HEADROOM = 8
# max_length is not cut below this many tokens; below it most texts would lose their meaning.
MIN_MAX_LENGTH = 32
LOG_TAIL_LINES = 60
# A learning rate times weight decay above this shrinks every weight by over 10% per step (AdamW's decoupled decay).
MAX_DECAY_PER_STEP = 0.1

OOM_PATTERN = re.compile(
    r"out of memory|can't allocate memory|not enough memory|tried to allocate|cannot allocate memory|"
    r"\bMemoryError\b|OutOfMemoryError|ran out of (?:GPU )?memory",
    re.IGNORECASE,
)
NAN_PATTERN = re.compile(r"became (?:-?nan|-?inf)\b|non-finite|\bnan loss|loss (?:is|was) nan", re.IGNORECASE)
MODULE_PATTERN = re.compile(r"No module named '([\w.]+)'")
PACKAGE_PATTERN = re.compile(r"(?:needs|requires) the ([\w.-]+) (?:package|library)|`pip install ([\w.\[\]-]+)`")
DEPENDENCY_PATTERN = re.compile(r"ModuleNotFoundError|ImportError|No module named|is not installed|pip install")
DATA_PATTERN = re.compile(
    r"\b(?:column|header|rows?|json|jsonl|csv|tsv|upload\w*|messages|chosen|rejected|labell?ed|labels?|format|"
    r"encoding|archive|data file|classes)\b|JSONDecodeError|UnicodeDecodeError|ParserError",
    re.IGNORECASE,
)
# Import names whose pip package is called differently.
PIP_NAMES = {
    "sklearn": "scikit-learn",
    "liger_kernel": "liger-kernel",
    "flash_attn": "flash-attn",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "google.protobuf": "protobuf",
}


def cuda_available_bytes(text: str, hardware: dict[str, Any]) -> int | None:
    """The GPU's memory: from the CUDA error ("total capacity of 15.77 GiB") or the run's hardware.json."""
    match = re.search(r"total capacity of ([\d.]+) GiB|([\d.]+) GiB total capacity", text)
    if match:
        return int(float(match.group(1) or match.group(2)) * 2**30)
    gpus = hardware.get("hardware", {}).get("gpus") or hardware.get("gpus") or []
    sizes = [float(gpu["memory_gb"]) for gpu in gpus if gpu.get("memory_gb")]
    if sizes:
        return int(min(sizes) * 2**30)
    # Not torch.cuda here: this runs in the chat's process, where starting CUDA would take GPU memory from the
    # runs and servers using it; without a figure the caller halves each lever instead.
    return None


def plan_oom(
    config: RunConfig, tried: int | None, available: int | None, device: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """Changes for an out-of-memory run, in the order of trainer/tasks/causal_lm/guards.oom_suggestions.

    With the failed allocation and the available memory known, the reduction is sized from their ratio:
    the batch is cut first (gradient accumulation keeps the effective batch), and what the batch cannot
    absorb comes off max_length. Without the figures every lever is halved once.
    """
    changes: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    figures: dict[str, Any] = {"tried_bytes": tried, "available_bytes": available, "device": device}
    if tried and available:
        needed = tried * OOM_HEADROOM / available
        factor = 2 ** max(1, math.ceil(math.log2(needed)))
        why = (
            f"one allocation of {fmt_bytes(tried)} failed with {fmt_bytes(available)} available; a step holds "
            f"several such tensors, so the aim is to make it {factor}x smaller ({fmt_bytes(tried / factor)})"
        )
    else:
        factor, why = 2, "the size of the failed allocation is not in the log, so memory use is halved"
    figures["reduction_factor"] = factor
    remaining = float(factor)
    if config.batch_size > 1:
        new_batch = max(1, config.batch_size // factor)
        cut = config.batch_size / new_batch
        remaining /= cut
        accumulation = config.gradient_accumulation_steps * math.ceil(cut)
        changes["batch_size"] = new_batch
        changes["gradient_accumulation_steps"] = accumulation
        effective = new_batch * accumulation
        reasons["batch_size"] = f"{why}; the batch is the first lever (memory grows with it)"
        reasons["gradient_accumulation_steps"] = (
            f"{new_batch} x {accumulation} = {effective} examples per optimizer step, "
            f"the same effective batch as before ({config.batch_size * config.gradient_accumulation_steps})"
        )
    if remaining > 1 and config.max_length > MIN_MAX_LENGTH:
        divisor = 2 ** max(1, math.ceil(math.log2(remaining)))
        new_length = max(MIN_MAX_LENGTH, config.max_length // divisor)
        if new_length < config.max_length:
            changes["max_length"] = new_length
            reasons["max_length"] = (
                f"a batch of {changes.get('batch_size', config.batch_size)} still needs about {remaining:g}x less "
                f"memory; activations grow with the sequence length (attention with its square), so texts are "
                f"cut at {new_length} tokens"
            )
            remaining /= config.max_length / new_length
    if config.gradient_checkpointing != "on":
        changes["gradient_checkpointing"] = "on"
        reasons["gradient_checkpointing"] = (
            "recomputes activations in the backward pass instead of keeping them: much less memory for about 20% "
            "more time"
        )
    if task_of(config.to_dict()).adapters:
        # Full weights carry gradients and Adam state (about 16 bytes a parameter): always worth dropping.
        if config.method in ("full", "freeze"):
            method = "qlora" if device == "cuda" else "lora"
            changes["method"] = method
            reasons["method"] = (
                "trains small adapters instead of every weight: no gradients or optimizer state for the base model"
                + (" (kept in 4 bits)" if method == "qlora" else "")
            )
        elif config.method == "lora" and device == "cuda" and (remaining > 1 or not (tried and available)):
            changes["method"] = "qlora"
            reasons["method"] = "keeps the frozen base model in 4 bits: about a quarter of its memory"
    figures["remaining_factor"] = remaining
    return changes, reasons, figures


def plan_nan(
    config: RunConfig, rows: list[dict[str, Any]], nan_step: int | None = None
) -> tuple[dict[str, Any], dict[str, str], str, bool]:
    """Changes for a run whose loss became NaN/inf; (changes, reasons, explanation, can_relaunch).

    `nan_step` is the step the error names, for workers that stop before logging the bad loss.
    """
    losses = [(int(row.get("step", 0)), float(row["loss"])) for row in rows if row.get("loss") is not None]
    bad = next(((step, loss) for step, loss in losses if not math.isfinite(loss)), None)
    finite = [step for step, loss in losses if math.isfinite(loss)]
    if bad is None and nan_step is not None:
        bad = (nan_step, float("nan"))
    if bad is not None and not finite and bad[0] <= 1:
        # Non-finite before any update: the weights or inputs are broken, a smaller step changes nothing.
        return (
            {},
            {},
            f"The loss was already {bad[1]} at step {bad[0]}, before the first update, so the model's weights or "
            "inputs hold NaN/inf values; a lower learning rate will not help — check the model and the data.",
            False,
        )
    new_lr = float(f"{config.learning_rate / 10:.3g}")
    changes: dict[str, Any] = {"learning_rate": new_lr}
    where = f"after {len(finite)} finite loss logs (up to step {finite[-1]})" if finite else "during training"
    clipping = "Gradient clipping at norm 1.0 was already on (the trainer's default), so it did not prevent this"
    warmup = (
        f"the warmup over the first {config.warmup_ratio:.0%} of steps was already on"
        if config.warmup_ratio > 0
        else "there was no warmup"
    )
    reasons: dict[str, str] = {
        "learning_rate": (
            f"the loss went non-finite {where}: the updates at {config.learning_rate:g} were too large; "
            f"{clipping.lower()} and {warmup}, so the step size itself comes down 10x"
        )
    }
    decay = config.learning_rate * config.weight_decay
    if new_lr * config.weight_decay > MAX_DECAY_PER_STEP:
        changes["weight_decay"] = 0.01
        reasons["weight_decay"] = (
            f"AdamW multiplies every weight by 1 - learning_rate x weight_decay each step ({1 - decay:.2f} before"
            + ("; below 0 the weights flip sign and grow every step" if decay > 1 else "")
            + f"); with {config.weight_decay:g} it would still be {1 - new_lr * config.weight_decay:.2f}, so the "
            "usual 0.01"
        )
    if config.warmup_ratio < 0.1:
        changes["warmup_ratio"] = 0.1
        reasons["warmup_ratio"] = "a longer warmup keeps the first updates small while Adam's statistics settle"
    explanation = (
        f"The training loss became non-finite (NaN/inf) {where}, which means the updates were too large for this "
        f"model. {clipping}; the fix is a 10x lower learning rate ({new_lr:g})."
    )
    return changes, reasons, explanation, True


def _first(pattern: re.Pattern[str], lines: list[str]) -> str | None:
    return next((line for line in lines if pattern.search(line)), None)


def _pip_name(module: str) -> str:
    top = module.split(".")[0]
    return PIP_NAMES.get(module, PIP_NAMES.get(top, top.replace("_", "-")))


def diagnose_run(workspace: Workspace, registry: Registry, run_id: int) -> dict[str, Any]:
    """The cause of run `run_id`'s failure, the evidence, and the changed config proposed for a new run.

    Returns {"run_id", "status", "cause", "explanation", "evidence", "changes", "reasons", "new_config",
    "can_relaunch", ...}. Raises UserError for a run that has not failed or been stopped.
    """
    run = registry.get_run(run_id)
    status = run["status"]
    if status not in ("failed", "cancelled"):
        state = "is still " + status if status in ACTIVE else status
        raise UserError(f"Run {run_id} has not failed (it {state}); there is nothing to diagnose.")
    run_dir = workspace.run_dir_of(run)
    progress = read_json_object(run_dir / "progress.json")
    hardware = read_json_object(run_dir / "hardware.json")
    try:
        rows = read_jsonl(run_dir / "metrics.jsonl")
    except OSError:
        rows = []
    config = resolve_config(run["config"])
    error = str(run.get("error") or "")
    detail = str(progress.get("error_detail") or "")
    log = log_lines(run_dir, LOG_TAIL_LINES)
    # Most specific first: the raw exception line, then the recorded sentence, then the log from its end.
    lines = [line for line in (detail, error, *reversed(log)) if line]

    result: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "backend": run["backend"],
        "task": config.task,
        "error": error or None,
        "changes": {},
        "reasons": {},
        "can_relaunch": False,
    }
    cause, evidence = "unknown", error or (log[-1] if log else "")
    nan_row = next((r for r in rows if r.get("loss") is not None and not math.isfinite(float(r["loss"]))), None)

    own = backend_of(run).diagnose(run)
    if own is not None:  # a hosted job's own reasons (cancelled, failed on the provider's side)
        cause = own["cause"]
        result.update(explanation=own["explanation"], can_relaunch=own["can_relaunch"])
    elif _first(OOM_PATTERN, lines):
        cause = "out_of_memory"
        evidence = _first(re.compile(r"tried to allocate", re.I), lines) or _first(OOM_PATTERN, lines) or evidence
        device = str(hardware.get("choice", {}).get("device") or hardware.get("hardware", {}).get("device") or "")
        if not device:
            device = "cuda" if re.search(r"CUDA|GPU", evidence) else "cpu"
        tried = parse_size(evidence)
        available = cpu_available_bytes() if device == "cpu" else cuda_available_bytes(evidence, hardware)
        changes, reasons, figures = plan_oom(config, tried, available, device)
        result.update(changes=changes, reasons=reasons, memory=figures, can_relaunch=bool(changes))
        where = "GPU memory" if device == "cuda" else "memory (RAM)"
        size = f" a single allocation of {fmt_bytes(tried)}" if tried else ""
        have = f", with {fmt_bytes(available)} available" if available else ""
        result["explanation"] = (
            f"Run {run_id} ran out of {where}: it asked for{size or ' more than there was'}{have}. "
            f"A smaller batch (with gradient accumulation keeping the effective batch), and if needed shorter "
            "texts, make each step fit."
        )
    elif nan_row is not None or _first(NAN_PATTERN, lines):
        cause = "nan_loss"
        evidence = _first(NAN_PATTERN, lines) or f"metrics.jsonl: {nan_row}"
        step = re.search(r"at step (\d+)", evidence)
        changes, reasons, explanation, can = plan_nan(config, rows, int(step.group(1)) if step else None)
        result.update(changes=changes, reasons=reasons, explanation=explanation, can_relaunch=can)
    elif _first(DEPENDENCY_PATTERN, lines):
        cause = "missing_dependency"
        evidence = _first(DEPENDENCY_PATTERN, lines) or evidence
        module = MODULE_PATTERN.search(evidence)
        named = PACKAGE_PATTERN.search(evidence)
        package = _pip_name(module.group(1)) if module else (named.group(1) or named.group(2) if named else None)
        result["package"] = package
        result["pip_command"] = f"pip install {package}" if package else None
        result["explanation"] = (
            f"Run {run_id} needs the Python package {package or 'named in the error'}, which is not installed. "
            + (f"Install it with `pip install {package}` and start the run again; " if package else "")
            + "a relaunch without it would fail the same way."
        )
    elif status == "cancelled" or error.startswith(PROCESS_DIED):
        cause = "interrupted"
        killed = error.startswith(PROCESS_DIED)
        result["can_relaunch"] = True
        resumable = task_of(config.to_dict()).resumable and any((run_dir / "checkpoints").glob("checkpoint-*"))
        result["explanation"] = (
            (
                f"Run {run_id}'s training process was killed without recording an error (by a stop, a shutdown, or "
                "the system's out-of-memory killer). "
                if killed
                else f"Run {run_id} was stopped on request before it finished. "
            )
            + "Nothing in its record points at a setting; a relaunch trains the same config again"
            + (" (or resume it from its last checkpoint)." if resumable else ".")
        )
        result["resumable"] = resumable
    elif error and not error.startswith("Training failed with") and _first(DATA_PATTERN, [error]):
        cause = "data_format"
        evidence = error
        column = re.search(r"column '([^']+)'", error)
        result["column"] = column.group(1) if column else None
        result["explanation"] = (
            f"Run {run_id} stopped on the data, not on a setting: {error} "
            "Fix the file (say 'clean it up' or 'convert it to chat format' to have prepare_data write a repaired "
            "copy"
            + (f", or name the right column instead of '{column.group(1)}'" if column else "")
            + "), then start a new run on it."
        )
        result["next_step"] = "prepare_data"
    else:
        result["explanation"] = (
            f"Run {run_id} failed with an error that matches no known cause: {error or 'no error was recorded'} "
            f"See {run_dir / 'train.log'} for the full traceback."
        )
    result.update(cause=cause, evidence=evidence)
    result["new_config"] = resolve_config(run["config"], result["changes"]).to_dict()
    result["config_before"] = {key: config.to_dict()[key] for key in result["changes"]}
    result["log_tail"] = log[-8:]
    return result
