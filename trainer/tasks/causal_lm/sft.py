"""Supervised fine-tuning (SFT) of a causal language model on chats or instructions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.data import kinds
from trainer.tasks.base import SUPERVISED_OBJECTIVE, HostedData
from trainer.tasks.causal_lm.task import CausalLMTask, hosted_split


class SFT(CausalLMTask):
    name = "sft"
    title = "chat fine-tuning (SFT)"
    data_kinds = kinds.CONVERSATIONS
    aliases = ("chat", "instruction", kinds.CHAT_SFT)

    def load_examples(self, path: Path) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import load_chats

        return load_chats(path)

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """Chats as OpenAI chat records, from whatever shape the file has (messages, Alpaca, ShareGPT, ...)."""
        from trainer.data.convert import load_chat_examples

        examples = list(load_chat_examples(path))
        return HostedData(objective=SUPERVISED_OBJECTIVE, examples=examples, splits=hosted_split(len(examples), config))


TASK = SFT()
