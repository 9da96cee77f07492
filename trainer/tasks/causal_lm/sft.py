"""Supervised fine-tuning (SFT) of a causal language model on chats or instructions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data import kinds
from trainer.tasks.base import SUPERVISED_OBJECTIVE, Ask, HostedData
from trainer.tasks.causal_lm import purposes as goals
from trainer.tasks.causal_lm.answer_eval import ANSWER_METRICS
from trainer.tasks.causal_lm.task import CausalLMTask, hosted_split

if TYPE_CHECKING:
    from trainer.plan.config import RunConfig


def _assistant_only(tokenizer: Any) -> bool:
    """True when the chat template marks assistant turns ({% generation %}), so every reply can be trained on."""
    from trainer.tasks.causal_lm.templates import has_generation_markers

    return has_generation_markers(tokenizer.chat_template)


class SFT(CausalLMTask):
    name = "sft"
    title = "chat fine-tuning (SFT)"
    data_kinds = kinds.CONVERSATIONS
    aliases = ("chat", "instruction", kinds.CHAT_SFT)
    purposes = (goals.SFT,)
    reports_perplexity = True
    # Ranked by eval_loss as every causal-LM run; the answer metrics say how the greedy answers read.
    metrics = (*CausalLMTask.metrics, *ANSWER_METRICS)
    replays_general = True

    def load_examples(self, path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import load_chats

        return load_chats(path, placeholders)

    def answer_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> Any | None:
        from trainer.tasks.causal_lm.answer_eval import AnswerProbe

        return AnswerProbe(rows) if rows else None

    def trainer_class(self) -> Any:
        from trl import SFTTrainer

        return SFTTrainer

    def last_reply_only(self, tokenizer: Any) -> bool:
        return not _assistant_only(tokenizer)

    def shape_rows(self, rows: list[dict[str, Any]], tokenizer: Any) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import to_prompt_completion

        if self.last_reply_only(tokenizer):
            # No {% generation %} markers: train on the last assistant reply of each chat (prompt/completion).
            return [to_prompt_completion(e) for e in rows]
        return rows

    def training_rows(
        self, rows: list[dict[str, Any]], tokenizer: Any, config: RunConfig, choice: dict[str, Any]
    ) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import pretokenize

        if choice.get("padding_free"):
            return pretokenize(rows, tokenizer, config.max_length)
        return rows

    def trl_args(self, common: dict[str, Any], config: RunConfig, choice: dict[str, Any], tokenizer: Any) -> Any:
        from trl import SFTConfig

        padding_free = bool(choice.get("padding_free"))
        if padding_free:
            common = {**common, "max_length": None}  # rows are tokenized and truncated by `pretokenize`
        return SFTConfig(
            **common,
            padding_free=padding_free,
            assistant_only_loss=_assistant_only(tokenizer) and not padding_free,
            train_sampling_strategy="group_by_length" if choice.get("group_by_length") else "random",
        )

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """Chats as OpenAI chat records, from whatever shape the file has (messages, Alpaca, ShareGPT, ...), with
        {{placeholders}} filled from the config (the upload itself is not rewritten): the chats a local run of the
        file trains on, split as it splits them."""
        examples = self.load_examples(path, config.get("placeholders") or {})
        return HostedData(objective=SUPERVISED_OBJECTIVE, examples=examples, splits=hosted_split(len(examples), config))

    def evaluate_hosted(self, run_dir: Path, record: dict[str, Any], ask: Ask) -> dict[str, Any] | None:
        """The tuned model and its base answer the held-out chats a local run answers, scored the same way."""
        from trainer.tasks.causal_lm.hosted_eval import evaluate_hosted_sft

        return evaluate_hosted_sft(run_dir, record, ask)


TASK = SFT()
