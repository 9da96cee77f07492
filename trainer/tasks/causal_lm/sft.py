"""Supervised fine-tuning (SFT) of a causal language model on chats or instructions."""

from __future__ import annotations

from trainer.tasks.causal_lm.task import CausalLMTask


class SFT(CausalLMTask):
    name = "sft"
    title = "chat fine-tuning (SFT)"
    data_kinds = ("chat-sft", "prompt-completion", "alpaca", "sharegpt")
    aliases = ("chat", "instruction", "chat-sft")


TASK = SFT()
