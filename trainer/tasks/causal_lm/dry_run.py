"""A dry run of a causal-LM plan: everything a real run does first, on its worst case, in seconds to minutes.

It loads the model, tokenizes every example (a row that cannot be read or templated is named by its line),
then runs two optimizer steps on the longest examples at the plan's batch size, one evaluation step and one
generation, and reports the time per step, the peak memory, the projected time of the full run and any error.
Nothing is saved but dry_run.json in the scratch folder it is given (the caller deletes that folder), and no
registry row is touched: the worker runs it with `--dry-run` (trainer/backends/dry_run.py starts it).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from trainer.core.workspace import resolve_data_path
from trainer.plan.config import RunConfig
from trainer.tasks.causal_lm.lengths import chat_length
from trainer.tasks.causal_lm.sizing import sequences
from trainer.tasks.progress import ProgressWriter, failure_message, fetch_model, log

# Two optimizer steps: the first also allocates the optimizer state, the second is the steady-state figure.
DRY_STEPS = 2
REPORT = "dry_run.json"


def dry_run_llm(run_dir: Path, task: Any) -> dict[str, Any]:
    """Dry-run the config in `run_dir`; write and return the report (its "error" is None when all went well).

    `task` is the causal-LM task (its reader, row shaping and TRL trainer), so this works for any of them.
    """
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / "config.json")
    report: dict[str, Any] = {"task": config.task, "method": config.method, "steps": 0, "error": None}
    device = "cpu"
    started = time.monotonic()
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        _dry_run(run_dir, config, task, report)
    except UserError as error:
        report["error"] = str(error)
    except Exception as error:  # the sentence a real run would record for the same failure
        report["error"] = failure_message(error, config, device)
    report.update(_peak_memory(device))
    report["wall_seconds"] = round(time.monotonic() - started, 2)
    atomic_write_json(run_dir / REPORT, report)
    log("dry run: " + ("ok" if report["error"] is None else f"failed: {report['error']}"))
    return report


def _dry_run(run_dir: Path, config: RunConfig, task: Any, report: dict[str, Any]) -> None:
    import torch
    from transformers import AutoTokenizer, set_seed
    from transformers.utils import logging as hf_logging

    from trainer.tasks.causal_lm.data import prompt_of, split
    from trainer.tasks.causal_lm.methods import freeze_lower, load_causal_lm, parameter_counts
    from trainer.tasks.causal_lm.templates import ensure_chat_template
    from trainer.tasks.causal_lm.trainer_setup import plan_choices

    torch.set_num_threads(os.cpu_count() or 1)
    hf_logging.disable_progress_bar()
    set_seed(config.seed)
    plan_choices(config, parameters=0)  # GPU-only choices fail here, before anything loads
    path = resolve_data_path(config.data, run_dir.resolve().parent.parent)
    # A record that cannot be converted is named by its line here; placeholders are filled as in a real run.
    examples = task.load_examples(path, config.placeholders)
    train_rows, val_rows = split(examples, config.val_fraction, config.seed)

    clock = time.monotonic()
    config = replace(config, model=fetch_model(config.model, ProgressWriter(run_dir)))
    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    model = load_causal_lm(config, plan_choices(config, parameters=0)["choice"])
    ensure_chat_template(tokenizer, model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    report["load_seconds"] = round(time.monotonic() - clock, 2)
    choice = plan_choices(config, parameters=parameter_counts(model)["total"])["choice"]
    if config.method == "freeze":
        freeze_lower(model, config.freeze_layers)

    lengths = token_lengths(examples, tokenizer, _lines(path, len(examples)))
    report.update(
        examples=len(examples),
        longest_tokens=max(lengths),
        truncated=sum(1 for n in lengths if n > config.max_length),
        max_length=config.max_length,
    )
    per_device = int(choice.get("per_device_batch_size", config.batch_size))
    per_step = per_device * config.gradient_accumulation_steps
    longest = sorted(range(len(examples)), key=lambda i: -lengths[i])
    chosen = [examples[i] for i in longest[: per_step * DRY_STEPS]]
    evaluated = [examples[i] for i in longest[:per_device]]
    report["step_tokens"] = min(sum(lengths[i] for i in longest[:per_step]), per_step * config.max_length)

    seconds = _train_steps(run_dir, config, task, choice, model, tokenizer, chosen, evaluated, report)
    steps_per_epoch = max(1, math.ceil(len(train_rows) / per_step))
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    # Every step is timed on the longest examples, so this is an upper bound for the real run.
    report.update(seconds_per_step=round(seconds, 3), total_steps=total, projected_seconds=round(total * seconds, 1))
    report["validation_examples"] = len(val_rows)

    from trainer.tasks.causal_lm.generate import generate

    clock = time.monotonic()
    reply = generate(model, tokenizer, [prompt_of(chosen[0])])[0]
    report["generation_seconds"] = round(time.monotonic() - clock, 2)
    report["generation_chars"] = len(reply)


def _train_steps(
    run_dir: Path,
    config: RunConfig,
    task: Any,
    choice: dict[str, Any],
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    evaluated: list[dict[str, Any]],
    report: dict[str, Any],
) -> float:
    """Two optimizer steps on `rows` and one evaluation step on `evaluated`; the steady-state seconds per step."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import SaveStrategy

    from trainer.tasks.causal_lm.trainer_setup import make_trainer, trainer_args

    # The rows as the real run hands them to its trainer (train.py): shaped, then e.g. pre-tokenized for SFT.
    rows = task.training_rows(task.shape_rows(rows, tokenizer), tokenizer, config, choice)
    evaluated = task.training_rows(task.shape_rows(evaluated, tokenizer), tokenizer, config, choice)
    if not rows:
        raise UserError("No example has an answer left after truncation; raise max_length or shorten the prompts.")
    short = replace(config, max_steps=DRY_STEPS, save_steps=10**6, warmup_ratio=0.0)
    args = trainer_args(short, choice, run_dir / "scratch", len(rows), False, tokenizer)
    args.save_strategy = SaveStrategy.NO  # a dry run writes no checkpoint, not even the final one
    args.logging_steps = 1
    times: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times.append(time.monotonic() - self.started)

    trainer = make_trainer(short, model, tokenizer, args, rows, evaluated, [StepClock()])
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    report.update(steps=len(times), step_seconds=[round(t, 3) for t in times], losses=losses)
    clock = time.monotonic()
    metrics = trainer.evaluate()
    report.update(eval_seconds=round(time.monotonic() - clock, 2), eval_loss=float(metrics["eval_loss"]))
    if not times:
        raise UserError("The dry run took no training step; check that the data has examples with answers.")
    return times[-1]


def token_lengths(examples: list[dict[str, Any]], tokenizer: Any, lines: list[int] | None) -> list[int]:
    """The token count of every example with the chat template (for pairs, the longer answer); a row the template
    or tokenizer cannot handle raises a UserError naming its line (its position in the file when lines are unknown)."""
    lengths = []
    for index, example in enumerate(examples):
        try:
            tools = example.get("tools")
            lengths.append(max(chat_length(tokenizer, chat, tools) for chat in sequences(example)))
        except Exception as error:
            where = f"line {lines[index]}" if lines else f"record {index + 1}"
            raise UserError(
                f"The example on {where} cannot be tokenized with the model's chat template ({_short(error)}); "
                "fix or remove that row and try again."
            ) from None
    return lengths


def _lines(path: Path, count: int) -> list[int] | None:
    """The file line of each example when every row became one (the usual case); None otherwise."""
    from trainer.data.read import load_table

    try:
        lines = list(load_table(path).lines)
    except Exception:
        return None
    return lines if len(lines) == count else None


def _short(error: BaseException, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _peak_memory(device: str) -> dict[str, Any]:
    """This process's peak: CUDA memory allocated on a GPU, the resident set (RSS) on a CPU."""
    if device == "cuda":
        import torch

        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()), "memory_kind": "CUDA max allocated"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return {"peak_memory_bytes": int(peak if sys.platform == "darwin" else peak * 1024), "memory_kind": "peak RSS"}
