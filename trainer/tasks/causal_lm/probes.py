"""What a causal-LM run measures on the model before training and again after it, on data training never sees.

Each probe scores the model as it is before the first step, keeps what it needs in a file of the run folder (so a
resumed run still compares against the model as it was before training, not a half-trained one), and after training
returns the figures it adds to evaluation.json. The one training loop (train.py) runs every probe this module lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from trainer.plan.config import RunConfig


class Probe(Protocol):
    """Something measured before and after training."""

    # The run folder's file that keeps the "before" measurement.
    reference_file: str
    # The phase progress.json shows while it works, e.g. "scoring held-out examples".
    phase: str

    def start(self, model: Any, tokenizer: Any, path: Path) -> None:
        """Measure the model before training, or read what a first attempt saved at `path`."""

    def before_training(self, trainer: Any) -> None:
        """What needs the trainer itself (its validation loss of the untrained model), once it is built and
        before its first step; not called when a run resumes from a checkpoint."""

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """Measure the trained model; the figures evaluation.json gets."""


def held_out_probes(task: Any, val_rows: list[dict[str, Any]], config: RunConfig) -> list[Probe]:
    """The probes of a run: the task's own held-out scoring (preference tasks' reward accuracy), its greedy answers
    to held-out prompts against the references (base model against tuned), and the check of general ability
    (forgetting) unless the run turned it off."""
    probes: list[Probe] = []
    for found in (task.held_out_probe(val_rows, config), task.answer_probe(val_rows, config)):
        if found is not None:
            probes.append(found)
    if config.forgetting_check and task.checks_forgetting:
        from trainer.tasks.causal_lm.forgetting import ForgettingProbe

        probes.append(ForgettingProbe(config.to_dict(), mixes_general=task.replays_general))
    return probes
