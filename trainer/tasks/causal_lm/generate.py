"""Load a finished causal-LM run and generate chat replies with it (what its OpenAI-compatible server calls).

Torch and Transformers are imported only when a model is loaded, so the server claims its port first.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.workspace import run_id_from_dir

DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class Sampling:
    """How one reply is decoded: greedy at temperature 0, sampled above it."""

    max_new_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0


def load_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The run's model/ folder: a LoRA adapter (merged into its base for speed) or full weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(run_dir) / "model"
    if not folder.is_dir():
        raise UserError(f"{run_dir} has no model/ folder; only a causal-LM run that succeeded can be served.")
    info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
    config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
    remote = bool(config.get("trust_remote_code", False))
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    if info.get("kind") == "adapter":
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(
            info["base_model"], use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
        )
        if base.get_input_embeddings().num_embeddings != len(tokenizer):
            base.resize_token_embeddings(len(tokenizer))  # the default chat template added its markers
        model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
        )
    model.eval()
    return model, tokenizer


class ChatModel:
    """Generation behind the API: the chat template, greedy or sampled decoding, token counts.

    One generation at a time (a lock), which is what a CPU can do anyway.
    """

    def __init__(self, model: Any, tokenizer: Any, model_id: str, run_id: int | None = None):
        self.model, self.tokenizer, self.model_id = model, tokenizer, model_id
        self.run_id = run_id  # reported by /health so deploy_run knows it reached this run
        self.lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: Path) -> ChatModel:
        model, tokenizer = load_chat_model(run_dir)
        return cls(model, tokenizer, f"tunechat-{Path(run_dir).name}", run_id_from_dir(Path(run_dir)))

    def _inputs(self, messages: list[dict[str, Any]]) -> Any:
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)

    def _generate_kwargs(self, sampling: Sampling) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
            "do_sample": sampling.temperature > 0,
        }
        if sampling.temperature > 0:
            kwargs["temperature"] = sampling.temperature
            kwargs["top_p"] = sampling.top_p
        return kwargs

    def complete(self, messages: list[dict[str, Any]], sampling: Sampling) -> dict[str, Any]:
        """One chat.completion object."""
        import torch

        inputs = self._inputs(messages)
        with self.lock, torch.no_grad():
            output = self.model.generate(**inputs, **self._generate_kwargs(sampling))
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finished = bool(len(new)) and int(new[-1]) == self.tokenizer.eos_token_id
        prompt_tokens = int(inputs["input_ids"].shape[1])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop" if finished else "length",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": int(len(new)),
                "total_tokens": prompt_tokens + int(len(new)),
            },
        }

    def stream(self, messages: list[dict[str, Any]], sampling: Sampling) -> Iterator[dict[str, Any]]:
        """Yield chat.completion.chunk dicts as tokens are generated.

        Closing the iterator early (the client went away) stops the generation at its next token, so the
        lock is not held for a reply nobody reads.
        """
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        cancelled = threading.Event()

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def run() -> None:
            with torch.no_grad():
                self.model.generate(
                    **inputs,
                    **self._generate_kwargs(sampling),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                )

        with self.lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                yield chunk({"role": "assistant", "content": ""})
                for piece in streamer:
                    if piece:
                        yield chunk({"content": piece})
            finally:
                cancelled.set()
                worker.join()
        yield chunk({}, "stop")


# Tokens per sample reply: enough to see the tuned model's style, cheap on a CPU.
SAMPLE_TOKENS = 24


def generate(model: Any, tokenizer: Any, prompts: list[list[dict[str, Any]]]) -> list[str]:
    """Greedy replies to chat prompts (a few tokens each), for the before/after comparison."""
    import torch

    replies = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for messages in prompts:
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(model.device)
            output = model.generate(
                **inputs,
                max_new_tokens=SAMPLE_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            replies.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    if was_training:
        model.train()
    return replies
