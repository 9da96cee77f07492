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

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """Chats as OpenAI chat records, from whatever shape the file has (messages, Alpaca, ShareGPT, ...), with
        {{placeholders}} filled from the config (the upload itself is not rewritten)."""
        from trainer.data.convert import load_chat_examples
        from trainer.data.placeholders import fill_records

        examples = fill_records(list(load_chat_examples(path)), config.get("placeholders"))
        return HostedData(objective=SUPERVISED_OBJECTIVE, examples=examples, splits=hosted_split(len(examples), config))


TASK = SFT()
