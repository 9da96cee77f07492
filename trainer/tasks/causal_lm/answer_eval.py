"""An SFT run against the model it started from, on held-out chats: the same validation loss, and greedy answers
to the same prompts scored against the reference answers with metrics chosen from the data.

Before training the probe answers up to MAX_PROMPTS held-out prompts with the base model and keeps the answers and
their scores in the run folder (a resumed run still compares with the model as it was before its first step); the
validation loss of the base model is the trainer's own evaluation on the very rows it evaluates the tuned model
on, taken once the trainer exists and before its first step. After training the tuned model answers the same
prompts with the same token budget. evaluation.json gets the tuned figures at the top level, the base model's
under "base", and the answers side by side under "held_out_answers".
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.evaluate.text_metrics import choose_metrics, score_answers
from trainer.tasks.base import MetricSpec
from trainer.tasks.causal_lm.data import prompt_of

# Held-out prompts answered by both models (each answer is one greedy generation, twice).
MAX_PROMPTS = 16
# The token budget of an answer: the longest reference's length, with room for a different wording, within these.
MIN_NEW_TOKENS, MAX_NEW_TOKENS = 8, 96
# Prompts answered together (one padded batch): several times faster than one by one on a CPU.
BATCH = 8

ANSWER_METRICS = (
    MetricSpec("exact_match", "share of held-out prompts answered exactly as the reference (short answers)", 1),
    MetricSpec("token_f1", "word overlap of the tuned model's greedy answers with the references (SQuAD F1)", 1),
    MetricSpec("rouge_l", "ROUGE-L F1 of the tuned model's greedy answers against the references (free text)", 1),
    MetricSpec("chrf", "chrF (0-100) of the tuned model's greedy answers against the references (free text)", 1),
)


def reference_of(example: dict[str, Any]) -> str:
    """The reference answer of a held-out chat: its last assistant reply."""
    prompt = prompt_of(example)
    if "completion" in example:
        reply = example["completion"]
        return str(reply[-1].get("content") or "") if isinstance(reply, list) and reply else str(reply or "")
    return str(example["messages"][len(prompt)].get("content") or "")


def answer_budget(tokenizer: Any, references: list[str]) -> int:
    """max_new_tokens for the held-out answers: the longest reference in tokens plus a quarter, within bounds."""
    longest = max((len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in references), default=0)
    return max(MIN_NEW_TOKENS, min(MAX_NEW_TOKENS, math.ceil(longest * 1.25) + 4))


def trainer_eval_loss(trainer: Any) -> float | None:
    """The trainer's validation loss of the model as it is now, computed exactly as its own evaluations are, but
    logged nowhere (metrics.jsonl and the curves keep only what training logged)."""
    # Probes run on the main process only, and an evaluation across several processes waits for all of them.
    if trainer.eval_dataset is None or trainer.args.world_size > 1:
        return None
    output = trainer.evaluation_loop(
        trainer.get_eval_dataloader(), description="base model", prediction_loss_only=True, metric_key_prefix="eval"
    )
    # TRL keeps the batch figures it computed for its next log line; these are the base model's, not the run's.
    pending = getattr(trainer, "_metrics", None)
    if isinstance(pending, dict) and isinstance(pending.get("eval"), dict):
        pending["eval"].clear()
    loss = output.metrics.get("eval_loss")
    return float(loss) if loss is not None else None


class AnswerProbe:
    """Held-out chats answered by the base model before training and by the tuned model after it."""

    reference_file = "answers_reference.json"
    phase = "answering held-out prompts"

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows[:MAX_PROMPTS]
        self.prompts = [prompt_of(row) for row in self.rows]
        self.references = [reference_of(row) for row in self.rows]
        # Chosen from every held-out reference, not only the answered ones.
        self.metrics, self.why = choose_metrics([reference_of(row) for row in rows])
        self.saved: dict[str, Any] = {}
        self.path: Path | None = None

    def _save(self) -> None:
        if self.path is not None:
            atomic_write_json(self.path, self.saved)

    def start(self, model: Any, tokenizer: Any, path: Path) -> None:
        """Answer the held-out prompts with the base model (or read the answers a first attempt saved)."""
        from trainer.tasks.causal_lm.generate import generate

        self.path = path
        if path.is_file():
            self.saved = read_json(path)
            return
        budget = answer_budget(tokenizer, self.references)
        started = time.monotonic()
        answers = generate(model, tokenizer, self.prompts, max_new_tokens=budget, batch_size=BATCH)
        self.saved = {
            "max_new_tokens": budget,
            "seconds": round(time.monotonic() - started, 1),
            "answers": answers,
            "scores": score_answers(answers, self.references, self.metrics),
            "eval_loss": None,
        }
        self._save()

    def before_training(self, trainer: Any) -> None:
        """The base model's validation loss, by the trainer that will evaluate the tuned one."""
        if self.saved.get("eval_loss") is None:
            self.saved["eval_loss"] = trainer_eval_loss(trainer)
            self._save()

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """The tuned model's answers and scores (top level), the base model's (under "base"), side by side."""
        from trainer.tasks.causal_lm.callbacks import perplexity
        from trainer.tasks.causal_lm.generate import generate

        budget = int(self.saved.get("max_new_tokens") or MAX_NEW_TOKENS)
        started = time.monotonic()
        answers = generate(model, tokenizer, self.prompts, max_new_tokens=budget, batch_size=BATCH)
        seconds = {"base": self.saved.get("seconds"), "tuned": round(time.monotonic() - started, 1)}
        base_answers = list(self.saved.get("answers") or [])
        base_loss = self.saved.get("eval_loss")
        base: dict[str, Any] = {
            "eval_loss": base_loss,
            "perplexity": perplexity(base_loss) if base_loss is not None else None,
            **(self.saved.get("scores") or {}),
        }
        side_by_side = held_out_answers(self.prompts, self.references, base_answers, answers)
        return {
            **score_answers(answers, self.references, self.metrics),
            "base": base,
            "held_out_answers": side_by_side,
            "answer_metrics": {**answer_info(self.metrics, self.why, len(side_by_side), budget), "seconds": seconds},
        }


def held_out_answers(
    prompts: list[list[dict[str, Any]]], references: list[str], base: list[str], tuned: list[str]
) -> list[dict[str, Any]]:
    """The answers side by side, as evaluation.json keeps them (and the LLM judge reads them)."""
    return [
        {
            "prompt": str(prompt[-1].get("content") or "") if prompt else "",
            "messages": prompt,
            "reference": reference,
            "base": before,
            "tuned": after,
        }
        for prompt, reference, before, after in zip(prompts, references, base, tuned, strict=False)
    ]


def answer_info(metrics: tuple[str, ...], why: str, prompts: int, budget: int) -> dict[str, Any]:
    """What evaluation.json says of the answers: the metrics chosen and why, how many prompts, the token budget."""
    return {"metrics": list(metrics), "why": why, "prompts": prompts, "max_new_tokens": budget}
