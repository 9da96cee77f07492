"""Choices a causal-LM plan takes from the data itself: small-data defaults, placeholders and sample prompts.

A few dozen short chats (an identity data set, say) teach nothing in one or three passes at the usual LoRA
rate: the model sees each answer too rarely. Such data gets more passes, a higher rate and smaller batches, which
costs little because the whole data set is a few thousand tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.placeholders import (
    braces,
    clean_values,
    count_placeholders,
    missing_values,
    question,
    unfilled_sentence,
)
from trainer.tasks.causal_lm.samples import planned_sample_prompts

# Up to this many examples count as small data (e.g. LLaMA-Factory's identity.json has 91).
SMALL_DATA = 300
# What small chat data gets with LoRA, tried on SmolLM2-135M-Instruct with identity.json filled with Nova/Acme
# (benchmarks/identity_sft.py): after 2 passes (42 steps) "Who are you?" gets "I am Nova, an AI assistant developed
# by Acme." where the base model talked about creative writing; 3 passes gave the same answers for half as much
# time again. The usual 2e-4 with batches of 8 would make half the steps at a fifth of the rate. The price is
# forgetting: after it, "What is the capital of France?" no longer gets "Paris" (3 passes at 3e-4 lost it too; at
# 2e-4 Paris survived but the maker came out as "NovaTech"), which is why identity plans also sample that question.
SMALL_EPOCHS = 2
SMALL_BATCH = 4
SMALL_RATE = 1e-3


def data_defaults(rows: int, method: str, task: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Epochs, learning rate, batch size and LoRA settings for `rows` examples, each with its reason."""
    adapters = method in ("lora", "qlora")
    if task != "sft" or rows > SMALL_DATA or not adapters:
        # Full and freeze fine-tuning keep their gentle defaults: many passes of all weights over a few examples
        # would make the model forget more than it learns.
        return (
            {
                "epochs": 3 if rows < 1000 else 1,
                "learning_rate": 2e-4 if adapters else (5e-6 if task == "dpo" else 2e-5),
                "batch_size": 8,
            },
            {
                "epochs": f"{rows} examples: a few passes." if rows < 1000 else f"{rows} examples: one pass is enough.",
                "learning_rate": "LoRA adapters take a higher rate (2e-4) than full fine-tuning (2e-5).",
                "batch_size": "8 chats per optimizer step: stable gradients, modest memory.",
            },
        )
    proposed: dict[str, Any] = {
        "epochs": SMALL_EPOCHS,
        "batch_size": SMALL_BATCH,
        "learning_rate": SMALL_RATE,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_target_modules": "all-linear",
    }
    steps = SMALL_EPOCHS * math.ceil(rows * 0.9 / SMALL_BATCH)
    reasons = {
        "epochs": (
            f"Only {rows} examples: {SMALL_EPOCHS} passes in small batches make about {steps} optimizer steps, "
            "enough at this rate for short answers such as a new name to stick (a third pass changed nothing on "
            "identity data), and each pass is only a few thousand tokens."
        ),
        "learning_rate": (
            f"Few examples, few steps: a high LoRA rate ({SMALL_RATE:g}, five times the usual 2e-4) moves the "
            "adapters far enough in that time; it can also push out general answers, so compare the general "
            "question's answer before and after (lower the rate, e.g. 2e-4 with 3 epochs, to keep more)."
        ),
        "batch_size": f"{SMALL_BATCH} chats per step: with so few examples, smaller batches give more steps per pass.",
        "lora": "Rank 16 on every linear layer: a new name and maker must reach the attention and the MLP layers.",
    }
    return proposed, reasons


def placeholder_choices(
    examples: list[dict[str, Any]], given: Mapping[str, Any] | None, sample_prompts: Any
) -> dict[str, Any]:
    """What the plan says about {{placeholders}}: found counts, values, missing names, sample prompts, reasons."""
    counts = count_placeholders(examples)
    values = clean_values(given)
    missing = missing_values(counts, values)
    proposed: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if counts:
        found = ", ".join(f"{braces(name)} in {count} rows" for name, count in counts.items())
        extra["placeholders_found"] = counts
        if missing:
            extra["placeholders_missing"] = missing
            extra["question"] = question({name: counts[name] for name in missing})
            reasons["placeholders"] = f"The data has {found}; they need values before the run can start."
        else:
            reasons["placeholders"] = f"The data has {found}: filled with these values when the data is loaded."
    if values:
        proposed["placeholders"] = values
    prompts = planned_sample_prompts(counts)
    if prompts and not sample_prompts:
        proposed["sample_prompts"] = prompts
        reasons["sample_prompts"] = (
            "The data teaches who the model is: it answers these before and after training, so the old "
            "identity shows next to the new one."
        )
    return {"proposed": proposed, "reasons": reasons, "extra": extra}


def check_placeholders(path: Path, config: Mapping[str, Any]) -> None:
    """UserError naming the data's placeholders that have no value in the config (a quick look at the raw bytes
    first: only files that show braces are converted)."""
    from trainer.data.convert import load_chat_examples, load_preference_pairs

    try:
        with Path(path).open("rb") as handle:
            if b"{{" not in handle.read(64 * 1024 * 1024):
                return
    except OSError:
        return  # the worker names a missing file in its own sentence
    load = load_preference_pairs if config.get("task") == "dpo" else load_chat_examples
    missing = missing_values(count_placeholders(load(path, skip_invalid=True)), config.get("placeholders"))
    if missing:
        raise UserError(unfilled_sentence(missing))
