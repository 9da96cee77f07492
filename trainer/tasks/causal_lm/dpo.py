"""Direct preference optimisation (DPO) of a causal language model on chosen/rejected answer pairs."""

from __future__ import annotations

from trainer.tasks.causal_lm.task import CausalLMTask


class DPO(CausalLMTask):
    name = "dpo"
    title = "preference tuning (DPO)"
    data_kinds = ("preference",)
    aliases = ("preference", "orpo")


TASK = DPO()
