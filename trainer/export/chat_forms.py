"""Chat models run by transformers in this process, as parity responders, and the prompts parity asks them.

The trained form is the run as it trained: its adapter on its base model (not merged), stopping at every
end-of-turn id tunechat knows (trainer/tasks/causal_lm/stops.py). An exported folder is run as a plain
transformers user would run it: its own tokenizer, its own chat template and its own generation config, and
nothing of the run's; so an export that lost its template or its stop token answers differently, and the
parity check sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.export.base import ExportOptions, ExportSource
from trainer.export.parity import ChatAnswer, Messages, ParityReport
from trainer.tasks.causal_lm.stops import cut_markers, stop_ids, stop_texts

# The prompts asked when a run kept none (a run trained before samples.json existed).
FALLBACK_PROMPTS: tuple[str, ...] = ("Hello!", "Who are you?", "What is the capital of France?")


class TransformersChat:
    """A causal LM with its tokenizer, answering greedily with the stops it was given."""

    def __init__(self, model: Any, tokenizer: Any, label: str, stops: list[int]):
        self.model, self.tokenizer, self.label, self.stops = model, tokenizer, label, stops

    @classmethod
    def trained(cls, run_dir: Path) -> TransformersChat:
        """The run's model as it trained: a LoRA adapter stays on its base model, unmerged."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        folder = Path(run_dir) / "model"
        if not folder.is_dir():
            raise UserError(f"{run_dir} has no model/ folder; only a run that succeeded can be checked for parity.")
        info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
        config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
        remote = bool(config.get("trust_remote_code", False))
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
        model: Any
        if info.get("kind") == "adapter":
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(
                info["base_model"], use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
            )
            if base.get_input_embeddings().num_embeddings != len(tokenizer):
                base.resize_token_embeddings(len(tokenizer))
            model = PeftModel.from_pretrained(base, folder)
        else:
            model = AutoModelForCausalLM.from_pretrained(
                folder, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
            )
        if (folder / "generation_config.json").is_file():
            model.generation_config = GenerationConfig.from_pretrained(folder)
        model.eval()
        return cls(model, tokenizer, "trained model (transformers)", stop_ids(model, tokenizer))

    @classmethod
    def folder(cls, path: Path, label: str, trust_remote_code: bool = False) -> TransformersChat:
        """An exported model folder as plain transformers runs it: it stops only where its generation config
        says (and, without one, at its tokenizer's EOS)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, use_safetensors=True, dtype=torch.float32, trust_remote_code=trust_remote_code
        )
        model.eval()
        eos = getattr(model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = tokenizer.eos_token_id
        stops = [eos] if isinstance(eos, int) else [int(token) for token in eos or []]
        return cls(model, tokenizer, label, stops)

    def render(self, messages: Messages) -> str | None:
        return str(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        length = int(inputs["input_ids"].shape[1])
        pad = self.tokenizer.pad_token_id
        with torch.no_grad():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                do_sample=False,
                eos_token_id=self.stops or None,
                pad_token_id=pad if pad is not None else (self.stops[0] if self.stops else None),
            )
        new = [int(token) for token in output[0, length:].tolist()]
        stopped = next((index for index, token in enumerate(new) if token in self.stops), None)
        kept = new if stopped is None else new[:stopped]
        decoded = self.tokenizer.decode(kept, skip_special_tokens=True)
        text = cut_markers(decoded, stop_texts(self.tokenizer, self.stops))
        return ChatAnswer(text=text, finish_reason="length" if stopped is None else "stop", token_ids=tuple(kept))


def folder_parity(source: ExportSource, folder: Path, label: str, options: ExportOptions) -> ParityReport:
    """The run as trained against an exported model folder run by plain transformers, on its held-out prompts."""
    from trainer.export.parity import compare_chat

    remote = bool(source.config.get("trust_remote_code", False))
    return compare_chat(
        TransformersChat.trained(source.run_dir),
        TransformersChat.folder(folder, label, trust_remote_code=remote),
        held_out_prompts(source.run_dir, options.parity_examples),
        options.parity_tokens,
    )


def held_out_prompts(run_dir: Path, limit: int) -> list[Messages]:
    """The prompts the run answered before and after training (samples.json), then its held-out evaluation
    prompts, then a few general ones: at most `limit`, without repeats."""
    found: list[Messages] = []
    samples = Path(run_dir) / "samples.json"
    if samples.is_file():
        found += [list(prompt) for prompt in read_json(samples).get("prompts", []) if isinstance(prompt, list)]
    evaluation = Path(run_dir) / "evaluation.json"
    if evaluation.is_file():
        answers = read_json(evaluation).get("held_out_answers", [])
        found += [list(row["messages"]) for row in answers if isinstance(row, dict) and row.get("messages")]
    found += [[{"role": "user", "content": text}] for text in FALLBACK_PROMPTS]
    unique: list[Messages] = []
    for prompt in found:
        if prompt not in unique:
            unique.append(prompt)
    return unique[:limit]
