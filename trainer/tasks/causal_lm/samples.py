"""The prompts a causal-LM run answers before and after training (samples.json), so the change shows.

Held-out prompts of the data, plus the run's `sample_prompts` (the plan adds "Who are you?" when the data
teaches an identity, so the report shows the base model's old identity next to the tuned one, and a general
question the data says nothing about, so the report also shows whether the model still answers it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trainer.data.placeholders import teaches_identity
from trainer.tasks.causal_lm.data import prompt_of

IDENTITY_PROMPT = "Who are you?"
# Identity data is a few dozen near-identical answers: a model pushed too hard answers everything with its new
# name, and this question shows it before anyone deploys the run.
GENERAL_PROMPT = "What is the capital of France?"


def planned_sample_prompts(placeholders: Mapping[str, int] | Iterable[str]) -> list[str]:
    """The extra prompts a plan proposes for data with these placeholders: for identity data "Who are you?" and a
    general question it does not teach."""
    return [IDENTITY_PROMPT, GENERAL_PROMPT] if teaches_identity(placeholders) else []


def sample_prompts(extra: Sequence[str], rows: Sequence[dict[str, Any]], count: int) -> list[list[dict[str, Any]]]:
    """The run's own prompts (as one user turn each) first, then up to `count` held-out prompts not among them."""
    prompts = [[{"role": "user", "content": text}] for text in extra]
    for row in rows[:count]:
        prompt = prompt_of(row)
        if prompt not in prompts:
            prompts.append(prompt)
    return prompts
