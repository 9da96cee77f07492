"""Direct preference optimisation (DPO) of a causal language model on chosen/rejected answer pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.data import kinds
from trainer.tasks.base import DPO_OBJECTIVE, HostedData
from trainer.tasks.causal_lm.task import CausalLMTask, hosted_split


class DPO(CausalLMTask):
    name = "dpo"
    title = "preference tuning (DPO)"
    data_kinds = (kinds.PREFERENCE,)
    aliases = (kinds.PREFERENCE, "orpo")

    def load_examples(self, path: Path) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import load_pairs

        return load_pairs(path)

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """Preference pairs as {"prompt", "chosen", "rejected"} message lists (each API turns them into its own
        preference format)."""
        from trainer.data.convert import load_preference_pairs

        pairs = list(load_preference_pairs(path))
        return HostedData(objective=DPO_OBJECTIVE, examples=pairs, splits=hosted_split(len(pairs), config))


TASK = DPO()
