"""Chat examples and preference pairs for the causal-LM trainers, split into train and validation.

The formats users bring (OpenAI messages, prompt/completion, Alpaca, ShareGPT) are converted by
trainer.data.convert and split by trainer.data.splits; this module only checks and reshapes them for TRL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.placeholders import fill_records
from trainer.data.splits import split_indices

# Fewer examples than this are all trained on: a validation loss over a handful of examples is noise.
MIN_EXAMPLES_TO_HOLD_OUT = 10


def load_chats(path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chats of a file; with `placeholders` (even empty) every {{placeholder}} is filled or the run refused."""
    from trainer.data.convert import load_chat_examples

    examples = load_chat_examples(path)
    if placeholders is not None:
        examples = fill_records(examples, placeholders)
    usable = [e for e in examples if any(m.get("role") == "assistant" for m in e["messages"])]
    if not usable:
        raise UserError(
            f"'{path.name}' has no chats with an assistant reply; give JSONL rows with 'messages' "
            "(user and assistant turns) or 'prompt'/'completion' fields."
        )
    return usable


def load_pairs(path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    from trainer.data.convert import load_preference_pairs

    pairs = load_preference_pairs(path)
    if placeholders is not None:
        pairs = fill_records(pairs, placeholders)
    if not pairs:
        raise UserError(
            f"'{path.name}' has no preference pairs; DPO needs JSONL rows with 'prompt', 'chosen' and 'rejected'."
        )
    return pairs


def split_parts(count: int, val_fraction: float, seed: int) -> dict[str, list[int]]:
    """The indices of `split`: shuffled with the seed, a validation share held out (at least one example, none
    below 10 examples), no test rows. A hosted run of the same file splits by this too."""
    return split_indices(count, val_fraction, 0.0, seed, min_examples=MIN_EXAMPLES_TO_HOLD_OUT)


def split(examples: list[dict[str, Any]], val_fraction: float, seed: int) -> tuple[list, list]:
    """Shuffle with the seed and hold out a validation share: at least one example, none below 10 examples."""
    parts = split_parts(len(examples), val_fraction, seed)
    return [examples[i] for i in parts["train"]], [examples[i] for i in parts["validation"]]


def prompt_of(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation up to (not including) the last assistant reply: what a sample generation answers."""
    if "prompt" in example:
        return list(example["prompt"])
    messages = example["messages"]
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    return list(messages[:last])


def to_prompt_completion(example: dict[str, Any]) -> dict[str, Any]:
    """For a chat template without generation markers: train on the last assistant reply only."""
    prompt = prompt_of(example)
    row: dict[str, Any] = {"prompt": prompt, "completion": [example["messages"][len(prompt)]]}
    if "tools" in example:
        row["tools"] = example["tools"]
    return row


def pretokenize(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """Token ids and a loss mask per example, truncated to max_length, for padding-free batches.

    Chats are masked with the template's {% generation %} spans (every assistant reply trains);
    prompt/completion rows train on the completion only. Rows left with nothing to learn are dropped.
    """
    out = []
    for row in rows:
        tools = row.get("tools")
        if "messages" in row:
            encoded = tokenizer.apply_chat_template(
                row["messages"], tools=tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
            )
            ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
        else:
            prompt = tokenizer.apply_chat_template(
                row["prompt"], tools=tools, tokenize=True, return_dict=True, add_generation_prompt=True
            )["input_ids"]
            ids = list(
                tokenizer.apply_chat_template(
                    row["prompt"] + row["completion"], tools=tools, tokenize=True, return_dict=True
                )["input_ids"]
            )
            mask = [0] * len(prompt) + [1] * (len(ids) - len(prompt))
        ids, mask = ids[:max_length], mask[:max_length]
        if any(mask):
            out.append({"input_ids": ids, "assistant_masks": mask})
    return out
