"""An SFT run tuned by a hosted API, evaluated like a local run of the same file: the same held-out (validation)
chats, the same prompts answered greedily, the same metrics chosen from the references, and the model it was
tuned from answering the same prompts as the base. The hosted API's own validation loss is kept apart
(`hosted_valid_loss`): it is counted in another model's tokens, so it does not compare with a local loss."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_jsonl
from trainer.evaluate.text_metrics import choose_metrics, score_answers
from trainer.tasks.base import Ask
from trainer.tasks.causal_lm.answer_eval import (
    MAX_NEW_TOKENS,
    MAX_PROMPTS,
    MIN_NEW_TOKENS,
    answer_info,
    held_out_answers,
    reference_of,
)
from trainer.tasks.causal_lm.data import prompt_of

# Characters per token of English text in the hosted models' tokenizers, for the answers' token budget.
CHARS_PER_TOKEN = 4


def hosted_budget(references: list[str]) -> int:
    """max_tokens of a hosted answer: the longest reference in (estimated) tokens plus a quarter, within bounds."""
    longest = max((math.ceil(len(text) / CHARS_PER_TOKEN) for text in references), default=0)
    return max(MIN_NEW_TOKENS, min(MAX_NEW_TOKENS, math.ceil(longest * 1.25) + 4))


def evaluate_hosted_sft(run_dir: Path, record: dict[str, Any], ask: Ask) -> dict[str, Any]:
    """Ask the tuned model and its base for the first held-out chats' answers and score both; writes
    evaluation.json (tuned figures at the top level, the base model's under "base", the answers side by side)."""
    from trainer.evaluate.plots import plot_loss_curves

    rows = read_jsonl(Path(record["files"]["validation"]))
    if not rows:
        raise UserError(
            "The run held out no validation chats, so there is nothing to evaluate it on; plan it with a "
            "val_fraction above 0 and at least 10 examples."
        )
    shown = rows[:MAX_PROMPTS]
    prompts = [prompt_of(row) for row in shown]
    references = [reference_of(row) for row in shown]
    metrics, why = choose_metrics([reference_of(row) for row in rows])
    budget = hosted_budget(references)
    tuned = [ask(prompt, max_tokens=budget) for prompt in prompts]
    base: dict[str, Any] = {}
    base_error = None
    try:
        base_answers = [ask(prompt, max_tokens=budget, base=True) for prompt in prompts]
    except UserError as error:
        base_answers = ["" for _ in prompts]
        base_error = str(error)
    else:
        base.update(score_answers(base_answers, references, metrics))
    log = read_jsonl(run_dir / "metrics.jsonl")
    losses = [(int(r["step"]), float(r["loss"])) for r in log if "loss" in r]
    valid = [(int(r["step"]), float(r["eval_loss"])) for r in log if "eval_loss" in r]
    evaluation: dict[str, Any] = {
        "task": record.get("task"),
        "method": record.get("method"),
        **score_answers(tuned, references, metrics),
        "base": base,
        "base_model": record.get("model"),
        **({"base_error": base_error} if base_error else {}),
        "held_out_answers": held_out_answers(prompts, references, base_answers, tuned),
        "answer_metrics": answer_info(metrics, why, len(prompts), budget),
        "fine_tuned_model": record.get("fine_tuned_model"),
        "validation_size": len(rows),
        "first_loss": losses[0][1] if losses else None,
        "final_loss": losses[-1][1] if losses else None,
        "steps": losses[-1][0] if losses else None,
        "hosted_valid_loss": valid[-1][1] if valid else None,
    }
    evaluation["loss_png"] = str(
        plot_loss_curves({"train": losses, "validation (eval)": valid}, run_dir / "loss.png", "Loss (hosted job)")
    )
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    return evaluation
